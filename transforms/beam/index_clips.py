"""IndexClip: the Beam stage that indexes each clip, with typed, tagged outputs.

Main output: ClipRecord. Tagged outputs: `frames` (pa.RecordBatch pieces of at
most 64k rows per clip, transforms.clip.frame_pieces), `samples` (pa.RecordBatch per
clip, only with --decode) and `errors` (ErrorRecord). Every input yields exactly one ClipRecord or one ErrorRecord;
failures are counted by kind (`errors_<kind>` counters).
"""

from __future__ import annotations

import collections
import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, wait
from typing import Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from schemas import ErrorRecord, FileInfo, IndexConfig
from transforms.clip.qa.contact_sheet import write_thumbnail
from transforms.isolation.child import index_in_process, quiet_ffmpeg
from transforms.isolation.malloc_tuning import keep_heap_warm
from transforms.isolation.pool import IsolatedPool
from transforms.storage.gcs_client import use_emulator_credentials
from transforms.storage.gcs_prefetch import Prefetcher, result_or_none
from transforms.storage.keep_on_stop import ROWS_LOCK

FRAMES_TAG = "frames"
SAMPLES_TAG = "samples"
ERRORS_TAG = "errors"
NAMESPACE = "clipindex"
PROGRESS_EVERY_S = 1.0
QUEUED_CLIPS = 1  # clips waiting in each isolated child's pipe behind the one being read
# Counters of clips read from object storage, their GETs and bytes (summed into run.json's `storage`)
STORAGE_CLIPS, STORAGE_REQUESTS, STORAGE_BYTES = "storage_clips", "storage_requests", "storage_bytes"


class ProgressFile:
    """Per-worker running totals in a shared local folder, summed by the launcher.

    Beam's metrics only arrive when a run ends; this gives a live
    "done / matched" line on local runners. Remote workers without the folder
    simply skip it.
    """

    def __init__(self, folder: Optional[str]):
        self._path = os.path.join(folder, f"{os.getpid()}-{id(self)}.json") if folder else None
        self.done = self.errors = 0
        self.duration_s = 0.0
        self._written_at = 0.0

    def add(self, duration_s: Optional[float]) -> None:
        self.done += 1
        if duration_s is None:
            self.errors += 1
        else:
            self.duration_s += duration_s
        if time.monotonic() - self._written_at >= PROGRESS_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if not self._path:
            return
        self._written_at = time.monotonic()
        tmp = self._path + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump({"done": self.done, "errors": self.errors, "duration_s": self.duration_s}, handle)
            os.replace(tmp, self._path)
        except OSError:
            self._path = None  # not a shared local folder (remote worker): stop trying


def _in_global_window(output):
    """finish_bundle has no input element to borrow a window from: clips live in the global one."""
    if isinstance(output, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(output.tag, _in_global_window(output.value))
    return GlobalWindows.windowed_value(output)


class IndexClipFn(beam.DoFn):
    def __init__(self, config: IndexConfig):
        self._config = config
        self._pool: Optional[IsolatedPool] = None
        self._progress: Optional[ProgressFile] = None
        self._prefetcher: Optional[Prefetcher] = None
        self._waiting: collections.deque = collections.deque()  # (FileInfo, Future) being prefetched

    def setup(self) -> None:
        use_emulator_credentials()
        quiet_ffmpeg()
        keep_heap_warm()  # this process reads clips (--isolation none) or their rows
        if self._config.isolation == "process":
            self._pool = IsolatedPool(self._config, self._config.children)
            self._pool.start()
        self._progress = ProgressFile(self._config.progress_dir)
        if self._config.gcs_inflight > 0:  # threads and connections start with the first gs:// clip
            self._prefetcher = Prefetcher(self._config.gcs_inflight)
        self._indexed = Metrics.counter(NAMESPACE, "clips_indexed")
        self._frames = Metrics.counter(NAMESPACE, "frames_indexed")
        self._samples = Metrics.counter(NAMESPACE, "frames_sampled")
        self._storage_clips = Metrics.counter(NAMESPACE, STORAGE_CLIPS)
        self._storage_requests = Metrics.counter(NAMESPACE, STORAGE_REQUESTS)
        self._storage_bytes = Metrics.counter(NAMESPACE, STORAGE_BYTES)

    def start_bundle(self) -> None:
        self._waiting.clear()  # left by a bundle that failed (it is retried whole)
        if self._pool is not None:
            self._pool.discard_queued()

    def process(self, info: FileInfo):
        if self._prefetcher is not None and info.uri.startswith("gs://"):
            # Up to gcs_inflight clips' first bytes and moov on their way while the readers
            # parse; each clip goes to a reader, with its bytes, once they are here.
            self._waiting.append((info, self._prefetcher.submit(info)))
            while self._waiting:
                done = [entry for entry in self._waiting if entry[1].done()]
                if not done and len(self._waiting) <= self._prefetcher.inflight:
                    break
                if not done:
                    wait([future for _, future in self._waiting], return_when=FIRST_COMPLETED)
                    continue
                for entry in done:
                    self._waiting.remove(entry)
                    yield from self._read(entry[0], result_or_none(entry[1]))
            return
        yield from self._read(info, None)

    def _read(self, info: FileInfo, prefetched):
        if self._pool is None:
            yield from self._outputs(index_in_process(info, self._config, prefetched))
            return
        # Keep one clip queued behind the one each child is reading (see IsolatedIndexer):
        # rows come out a few elements late, and finish_bundle drains the last ones.
        self._pool.submit(info, prefetched)
        while self._pool.in_flight > self._pool.size * (1 + QUEUED_CLIPS) - 1:
            yield from self._outputs(self._pool.next_result())

    def finish_bundle(self):
        while self._waiting:
            info, future = self._waiting.popleft()
            for output in self._read(info, result_or_none(future)):
                yield _in_global_window(output)
        while self._pool is not None and self._pool.in_flight:
            for output in self._outputs(self._pool.next_result()):
                yield _in_global_window(output)
        self._progress.flush()

    def _outputs(self, result):
        # One clip's rows reach the fused writers whole or not at all before an interrupt
        # keeps them (transforms.storage.keep_on_stop): the progress count is then what is kept.
        with ROWS_LOCK:
            yield from self._clip_outputs(result)

    def _clip_outputs(self, result):
        if isinstance(result, ErrorRecord):
            Metrics.counter(NAMESPACE, f"errors_{result.error_kind}").inc()
            self._progress.add(None)
            yield beam.pvalue.TaggedOutput(ERRORS_TAG, result)
            return
        if result.thumbnail_jpeg is not None and self._config.thumbs_dir:
            # Output, not input: a write that fails (ENOSPC, a bucket refusing) fails the
            # bundle and so the run, never the clip.
            write_thumbnail(self._config.thumbs_dir, result.clip.clip_id, result.thumbnail_jpeg)
        self._indexed.inc()
        self._frames.inc(result.clip.frame_count)
        if result.storage is not None:  # run.json's requests and bytes per clip read from a bucket
            self._storage_clips.inc()
            self._storage_requests.inc(result.storage["requests"])
            self._storage_bytes.inc(result.storage["bytes"])
        self._progress.add(result.clip.duration_s)
        yield result.clip
        for piece in result.frame_pieces:  # bounded pieces, however long the clip
            yield beam.pvalue.TaggedOutput(FRAMES_TAG, piece)
        if result.samples is not None:
            self._samples.inc(result.samples.num_rows)
            yield beam.pvalue.TaggedOutput(SAMPLES_TAG, result.samples)

    def teardown(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.close()
        if self._pool is not None:
            self._pool.close()


class IndexClips(beam.PTransform):
    """FileInfo -> {clips, frames, samples, errors}, each clip read in an isolated worker."""

    def __init__(self, config: IndexConfig):
        super().__init__()
        self._config = config

    def expand(self, files):
        return files | "IndexClip" >> beam.ParDo(IndexClipFn(self._config)).with_outputs(
            FRAMES_TAG, SAMPLES_TAG, ERRORS_TAG, main="clips")


