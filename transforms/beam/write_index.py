"""WriteIndex: typed records and frame batches -> Parquet, via Arrow tables.

Rows never travel as per-row dicts: clips and errors are batched and turned
into Arrow tables with the explicit schemas, frames and samples are already
Arrow record batches and are only concatenated into large row groups.

The Parquet writer is a DoFn that fuses with IndexClip, so frame batches are
written by the worker that made them and never cross a stage boundary. (Beam's
`WriteToParquetBatched` takes its sink's set-up as a side input, which stops
the FnApiRunner from fusing it with the producer: every frame batch was then
pickled to the runner process and shipped back to a separate write stage;
see BENCHMARKS.md.) Each bundle writes hidden
`.<name>.tmp` files; only the names that come out of committed bundles are
renamed into place after a GroupByKey, so a retried bundle leaves no visible
file (readers skip hidden names). Files go through transforms.storage.fs, so the
same writer serves local folders and gs:// prefixes. With a checkpoint, every
closed file is also linked there, and files are closed at least every
`roll_every_s`, so a killed run keeps what it finished (transforms.storage.checkpoints);
on Ctrl-C or SIGTERM the open files are closed into it first (transforms.storage.keep_on_stop).
"""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from typing import Callable, Optional

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.transforms.window import GlobalWindows

from schemas import (
    CLIPS_SCHEMA,
    ERRORS_SCHEMA,
    FRAMES_SCHEMA,
    SAMPLES_SCHEMA,
    clips_to_table,
    errors_to_table,
    parquet_options,
)
from transforms.storage import fs as storage
from transforms.storage import keep_on_stop
from transforms.storage.checkpoints import Checkpoint
from transforms.storage.gcs_client import use_emulator_credentials
from transforms.storage.keep_on_stop import ROWS_LOCK
from transforms.storage.snapshots import TABLES

FRAME_ROWS_PER_TABLE = 256 * 1024  # one Parquet row group of frames at most this big
RECORDS_PER_TABLE = 4096
ROW_GROUPS_PER_FILE = 8            # roll to a new file after this many row groups


def frames_to_table(batches: list[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(batches, schema=FRAMES_SCHEMA)


def samples_to_table(batches: list[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(batches, schema=SAMPLES_SCHEMA)


def _tmp_name(path: str) -> str:
    folder, name = path.rsplit("/", 1)
    return f"{folder}/.{name}.tmp"


class WriteParquetShardsFn(beam.DoFn):
    """Buffer elements into row groups and write them to this bundle's own Parquet files.

    Emits the final path of every file it wrote (from finish_bundle); the
    file itself still has its hidden temporary name until `CommitFiles`.
    """

    def __init__(self, path_prefix: str, schema: pa.Schema, to_table: Callable[[list], pa.Table],
                 rows_per_group: int, element_rows: Optional[Callable] = None,
                 checkpoint: Optional[Checkpoint] = None, table: str = ""):
        self._path_prefix = path_prefix
        self._schema = schema
        self._to_table = to_table
        self._rows_per_group = rows_per_group
        self._element_rows = element_rows
        self._checkpoint = checkpoint  # closed files are also kept there (transforms.storage.checkpoints)
        self._table = table

    def setup(self) -> None:
        use_emulator_credentials()
        # Encoding and compressing a row group (~30 ms for 256k frames) runs on this
        # thread while the DoFn's caller goes on (pyarrow releases the GIL): the IndexClip
        # loop fused before it keeps the isolated readers fed instead of stalling.
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="parquet")
        self._reset_bundle()  # an interrupt may ask to keep rows before the first bundle starts
        if self._checkpoint is not None:
            keep_on_stop.register(self, self._checkpoint.keep_socket)

    def teardown(self) -> None:
        keep_on_stop.unregister(self)
        self._executor.shutdown(wait=True)

    def start_bundle(self) -> None:
        with ROWS_LOCK:
            self._reset_bundle()

    def _reset_bundle(self) -> None:
        self._in_progress = None
        self._pending: list = []
        self._pending_rows = 0
        self._writer: Optional[pq.ParquetWriter] = None
        self._sink = None
        self._path: Optional[str] = None
        self._groups_in_file = 0
        self._written: list[str] = []
        self._first_row_at: Optional[float] = None

    def process(self, element):
        with ROWS_LOCK:
            self._pending.append(element)
            self._pending_rows += self._element_rows(element) if self._element_rows else 1
            if self._pending_rows >= self._rows_per_group:
                self._flush()
            if self._checkpoint is not None:
                self._roll_for_checkpoint()
        return ()

    def keep_open_rows(self) -> None:
        """On an interrupt, with ROWS_LOCK taken for good: close the open file into the checkpoint."""
        self._flush()
        self._close_file()

    def _roll_for_checkpoint(self) -> None:
        """Close the file once its first row is `roll_every_s` old, so a SIGKILL or a crash keeps it."""
        now = time.monotonic()
        if self._first_row_at is None:
            self._first_row_at = now
        if now - self._first_row_at >= self._checkpoint.roll_every_s:
            self._flush()
            self._close_file()

    def _flush(self) -> None:
        if not self._pending:
            return
        table = self._to_table(self._pending)
        self._pending, self._pending_rows = [], 0
        self._wait_for_write()  # one row group in flight at most: memory stays bounded
        if self._writer is None:
            self._path = f"{self._path_prefix}-{uuid.uuid4().hex[:12]}.parquet"
            self._sink = storage.open_write(_tmp_name(self._path))
            self._writer = pq.ParquetWriter(self._sink, self._schema, **parquet_options(self._schema))
        self._in_progress = self._executor.submit(self._writer.write_table, table,
                                                  row_group_size=max(table.num_rows, 1))
        self._groups_in_file += 1
        if self._groups_in_file >= ROW_GROUPS_PER_FILE:
            self._close_file()

    def _wait_for_write(self) -> None:
        if self._in_progress is not None:
            in_progress, self._in_progress = self._in_progress, None
            in_progress.result()  # a failed write fails the bundle here, as if written inline

    def _close_file(self) -> None:
        self._wait_for_write()
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
            self._written.append(self._path)
            if self._checkpoint is not None:
                self._checkpoint.keep(_tmp_name(self._path), self._path.rsplit("/", 1)[-1], self._table)
        self._writer, self._sink, self._path, self._groups_in_file = None, None, None, 0
        self._first_row_at = None

    def finish_bundle(self):
        with ROWS_LOCK:
            self._flush()
            self._close_file()
            written, self._written = self._written, []
        for path in written:
            yield GlobalWindows.windowed_value(path)


def _commit_files(paths, table_dirs: list[str]) -> list[str]:
    """Rename the files of committed bundles from their hidden temporary names, then delete
    the temporary files of bundles that failed (their names never got here).

    Idempotent, so a retried commit bundle finishes the job: a file already renamed
    by an earlier attempt is left as it is.
    """
    committed = set(paths)
    for path in paths:
        tmp = _tmp_name(path)
        if storage.exists(tmp) or not storage.exists(path):
            storage.rename(tmp, path)
    for folder in table_dirs:
        for tmp in storage.list_hidden(folder, ".parquet.tmp"):
            folder_part, name = tmp.rsplit("/", 1)
            if f"{folder_part}/{name[1:-len('.tmp')]}" not in committed:
                storage.delete_file(tmp)
    return list(paths)


class WriteIndex(beam.PTransform):
    """{clips, frames, samples, errors} -> DIR/<table>/<run_id>/<run_id>-part-*.parquet.

    The files land in the Delta tables' folders but no version names them until the
    launcher commits the night (transforms.storage.snapshots.commit).

    Each table's shards are written where its rows are made; the hidden files of all
    four tables are then committed in one step (one shuffle, not four: on the local
    runner every stage costs a fixed ~0.1 s). Returns the committed paths.
    """

    def __init__(self, output_dir: str, run_id: str, checkpoint: Optional[Checkpoint] = None):
        super().__init__()
        self._output_dir = output_dir.rstrip("/")
        self._run_id = run_id
        self._checkpoint = checkpoint

    def _prefix(self, table: str) -> str:
        return f"{self._output_dir}/{table}/{self._run_id}/{self._run_id}-part"

    def _kept(self, table: str) -> dict:
        """Checkpoint arguments: clips, frames and samples are kept; errors are read again."""
        return {"checkpoint": self._checkpoint, "table": table}

    def expand(self, outputs):
        table_dirs = [f"{self._output_dir}/{table}/{self._run_id}" for table in TABLES]

        def rows(batch):
            return batch.num_rows

        shards = {
            "clips": WriteParquetShardsFn(self._prefix("clips"), CLIPS_SCHEMA, clips_to_table,
                                          RECORDS_PER_TABLE, **self._kept("clips")),
            "errors": WriteParquetShardsFn(self._prefix("errors"), ERRORS_SCHEMA, errors_to_table,
                                           RECORDS_PER_TABLE),
            "frames": WriteParquetShardsFn(self._prefix("frames"), FRAMES_SCHEMA, frames_to_table,
                                           FRAME_ROWS_PER_TABLE, element_rows=rows, **self._kept("frames")),
            "samples": WriteParquetShardsFn(self._prefix("samples"), SAMPLES_SCHEMA, samples_to_table,
                                            FRAME_ROWS_PER_TABLE, element_rows=rows, **self._kept("samples")),
        }
        written = [outputs[table] | f"Write{table.title()}" >> beam.ParDo(fn) for table, fn in shards.items()]
        return (
            written
            | "AllFiles" >> beam.Flatten()
            | "Key" >> beam.Map(lambda path: (None, path))
            | "Gather" >> beam.GroupByKey()
            | "Commit" >> beam.FlatMap(lambda keyed, dirs: _commit_files(keyed[1], dirs), table_dirs))
