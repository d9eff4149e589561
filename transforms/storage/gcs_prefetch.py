"""A clip in a bucket read in one or two requests, and many clips in flight per worker.

What the header tier needs of an MP4 is its first bytes (the top-level box
headers and FFmpeg's first buffer) and the moov, which is either right there
(faststart) or in the last few hundred KiB (what cameras write). `prefetch`
gets exactly that, guided by the top-level box headers:

1. the head: `head_bytes(size)` from offset 0 (1/64 of the object, 20-128 KiB:
   FFmpeg's first buffer, or the first packets it probes);
2. if the moov starts in the head but does not end there: the rest of it (and
   as much again for the packets FFmpeg probes after it) in one read; if a box crosses the head's
   end before any moov (the mdat of a camera clip), everything after that box
   when it is at most TAIL_BYTES (the moov and whatever follows it), else one
   more look at the next box header.

Size and generation come from the listing (no metadata request); every read is
pinned to that generation (a rewrite in between is seen as the listed object
being gone: then one metadata request finds the live generation, as before).
The bytes go with the clip to the isolated reader (transforms.isolation.pool),
which serves FFmpeg from them (`ExtentReader`); anything else it reads
(fragments, MKV/TS, decoding) is fetched in blocks, in larger reads while
they run on sequentially. A 1-minute faststart clip costs one request; a
camera clip with its moov at the end, two.

`Prefetcher` runs `prefetch` for the next clips on a thread pool in the worker
while the isolated readers parse (`--gcs-inflight`); the parent only fetches
bytes and reads box headers (no FFmpeg), so crash isolation is unchanged.
"""

from __future__ import annotations

import bisect
import dataclasses
import struct
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional

from schemas import FileInfo
from transforms.faults import io_fault
from transforms.storage.byte_readers import BlockCacheReader, os_error_kind, remote_chunk_bytes
from transforms.storage.gcs_client import widen_connection_pool  # noqa: F401 - the workers' pool size
from transforms.storage.problems import InputProblem

HEAD_MIN_BYTES = 20 * 1024      # FFmpeg's first 16 KiB buffer and a small faststart moov
HEAD_MAX_BYTES = 128 * 1024     # a faststart moov of a few minutes of video fits
FFMPEG_READ_AHEAD_BYTES = 16 * 1024  # FFmpeg's buffer size on remote objects (transforms.clip.read_size)
TAIL_BYTES = 8 * 1024 * 1024    # everything after the mdat up to this is read at once
PROBE_BYTES = 64 * 1024         # else this much, to see the next box header
MAX_READS = 4                   # head + guided reads, whatever the file claims
SEQUENTIAL_MAX_BYTES = 8 * 1024 * 1024  # misses that run on grow to reads of this size
_MP4_FIRST_BOXES = (b"ftyp", b"moov", b"free", b"skip", b"wide", b"mdat", b"styp", b"sidx", b"uuid", b"pnot")
DEFAULT_INFLIGHT = 16


def packets_allowance(size_bytes: int) -> int:
    """Bytes of the first packets FFmpeg probes when it opens a file (grows with the bit rate)."""
    return min(HEAD_MAX_BYTES, size_bytes // 64)


def head_bytes(size_bytes: int) -> int:
    return min(size_bytes, max(HEAD_MIN_BYTES, packets_allowance(size_bytes)))


@dataclasses.dataclass
class Prefetched:
    """What was read of one object generation before the reader opened it."""

    uri: str
    generation: Optional[str]
    size_bytes: Optional[int]
    extents: list[tuple[int, bytes]]   # (offset, bytes), sorted, not overlapping
    requests: int                      # GETs made, metadata and retries included
    problem: Optional[tuple[str, str]] = None  # (error kind, message): the object cannot be read

    @property
    def nbytes(self) -> int:
        return sum(len(data) for _, data in self.extents)


class _Extents:
    def __init__(self, extents: list[tuple[int, bytes]]):
        self.starts = [start for start, _ in extents]
        self.datas = [data for _, data in extents]

    def add(self, start: int, data: bytes) -> None:
        at = bisect.bisect_left(self.starts, start)
        self.starts.insert(at, start)
        self.datas.insert(at, data)

    def find(self, offset: int) -> int:
        """Index of the extent holding `offset`, or -1."""
        number = bisect.bisect_right(self.starts, offset) - 1
        return number if number >= 0 and offset < self.starts[number] + len(self.datas[number]) else -1

    def get(self, offset: int, size: int) -> Optional[bytes]:
        number = self.find(offset)
        if number < 0:
            return None
        start = self.starts[number]
        data = self.datas[number][offset - start: offset - start + size]
        return data if len(data) == size else None

    def remove(self, start: int) -> None:
        number = bisect.bisect_left(self.starts, start)
        if number < len(self.starts) and self.starts[number] == start:
            del self.starts[number], self.datas[number]

    def first_missing(self, start: int, end: int) -> Optional[int]:
        while start < end:
            number = self.find(start)
            if number < 0:
                return start
            start = self.starts[number] + len(self.datas[number])
        return None

    def next_start(self, offset: int) -> Optional[int]:
        number = bisect.bisect_right(self.starts, offset)
        return self.starts[number] if number < len(self.starts) else None

    def items(self) -> list[tuple[int, bytes]]:
        return list(zip(self.starts, self.datas))


def next_read(have: _Extents, size: int) -> Optional[tuple[int, int]]:
    """The next range the header tier will want, from the top-level boxes seen so far (None: done)."""
    offset = 0
    while offset + 8 <= size:
        header = have.get(offset, min(16, size - offset))
        if header is None or len(header) < 8:
            end = size if size - offset <= TAIL_BYTES else offset + PROBE_BYTES
            return offset, min(size, end)
        box_size, box_type = struct.unpack(">I4s", header[:8])
        header_len = 8
        if box_size == 1:
            if len(header) < 16:
                return offset, min(size, offset + PROBE_BYTES)
            box_size, header_len = struct.unpack(">Q", header[8:16])[0], 16
        elif box_size == 0:
            box_size = size - offset
        if box_size < header_len or (offset == 0 and box_type not in _MP4_FIRST_BOXES):
            return None  # not an MP4 (or damaged): FFmpeg reads what it needs, in blocks
        if box_type == b"moov":
            # FFmpeg fills its buffer from 0 in FFMPEG_READ_AHEAD_BYTES steps, past the moov
            # into the first packets it probes (of a faststart file): allow for those as much
            # as a moov-at-end file's head does.
            moov_end = offset + box_size
            buffer_end = -(-(moov_end + 1) // FFMPEG_READ_AHEAD_BYTES) * FFMPEG_READ_AHEAD_BYTES
            want_end = min(size, max(buffer_end, moov_end + packets_allowance(size)))
            missing = have.first_missing(offset, want_end)
            return None if missing is None else (missing, want_end)
        if box_type == b"moof":
            return None  # fragments: read on demand as FFmpeg walks them
        offset += box_size
    return None


def prefetch(info: FileInfo) -> Prefetched:
    """Head, then the moov as the box headers point to it; never raises for storage trouble."""
    from transforms.storage.ranged_reads import ObjectRanges, object_info_or_problem

    requests = 0
    generation, size = info.generation, info.size_bytes
    try:
        for attempt in range(2):
            if size is None or generation is None or attempt:
                listed = object_info_or_problem(info.uri)  # InputProblem when it keeps failing
                requests += 1
                generation, size = listed.generation, listed.size_bytes
            if size is None:
                return Prefetched(info.uri, None, None, [], requests, ("not_found", "object no longer exists"))
            if size == 0:
                return Prefetched(info.uri, generation, 0, [], requests, ("empty_file", "object is empty (0 bytes)"))
            ranges = ObjectRanges(info.uri, generation, size, io_fault("remote", info.uri))
            have = _Extents([])
            try:
                wanted: Optional[tuple[int, int]] = (0, head_bytes(size))
                for _ in range(MAX_READS):
                    if wanted is None:
                        break
                    start, end = wanted
                    ranges.seek(start)
                    have.add(start, ranges.read(end - start))
                    wanted = next_read(have, size)
            except FileNotFoundError:
                requests += ranges.requests
                continue  # the listed generation is gone: ask for the live one (once)
            requests += ranges.requests
            return Prefetched(info.uri, generation, size, have.items(), requests)
        return Prefetched(info.uri, None, None, [], requests, ("not_found", "object no longer exists"))
    except InputProblem as problem:
        return Prefetched(info.uri, generation, size, [], requests + 1, (problem.error_kind, str(problem)))
    except OSError as exc:
        problem = (os_error_kind(exc), f"{type(exc).__name__}: {exc}")
        return Prefetched(info.uri, generation, size, [], requests, problem)


class ExtentReader(BlockCacheReader):
    """Serves reads from prefetched extents; a miss fetches from where it is, at least a chunk
    (twice the last while misses run onward, up to SEQUENTIAL_MAX_BYTES) and never what is already
    here. `bytes_read` counts every byte fetched for this clip, prefetched ones included;
    `requests` every GET. Fetched extents beyond MAX_CACHED_BYTES are dropped oldest first."""

    def __init__(self, raw, size_bytes: int, chunk_bytes: int, extents: list[tuple[int, bytes]],
                 requests_before: int = 0):
        super().__init__(raw, size_bytes, chunk_bytes)
        self._have = _Extents(extents)
        self.bytes_read = sum(len(data) for _, data in extents)
        self._requests_before = requests_before
        self._fetched: list[tuple[int, int]] = []  # (start, length) of extents fetched here, oldest first
        self._fetched_bytes = 0
        self._last_end = -1
        self._run = chunk_bytes

    @property
    def requests(self) -> int:
        return self._requests_before + getattr(self._raw, "requests", 0)

    def _fetch_at(self, position: int, end: int) -> None:
        # Reading on, or skipping ahead less than the last read (FFmpeg walking fragments or
        # demuxing past another track's samples): read more at once, as a stream would.
        onward = self._last_end >= 0 and 0 <= position - self._last_end <= self._run
        self._run = min(self._run * 2, SEQUENTIAL_MAX_BYTES) if onward else self._block
        stop = min(self.size_bytes, position + max(self._run, end - position))
        following = self._have.next_start(position)
        if following is not None:
            stop = min(stop, following)
        self._raw.seek(position)
        data = self._raw.read(stop - position)
        self.bytes_read += len(data)
        self._last_end = position + len(data)
        if not data:
            return
        while self._fetched and self._fetched_bytes + len(data) > self.MAX_CACHED_BYTES:
            start, length = self._fetched.pop(0)
            self._have.remove(start)
            self._fetched_bytes -= length
        self._have.add(position, data)
        self._fetched.append((position, len(data)))
        self._fetched_bytes += len(data)

    def read(self, size: int = -1) -> bytes:
        end = self.size_bytes if size is None or size < 0 else min(self.size_bytes, self._pos + size)
        parts = []
        while self._pos < end:
            number = self._have.find(self._pos)
            if number < 0:
                self._fetch_at(self._pos, end)
                number = self._have.find(self._pos)
                if number < 0:
                    break  # nothing came back: the object is shorter than it was listed
            start = self._have.starts[number]
            piece = self._have.datas[number][self._pos - start: end - start]
            parts.append(piece)
            self._pos += len(piece)
        return b"".join(parts)


def open_object(info: FileInfo, prefetched: Optional[Prefetched] = None) -> tuple[ExtentReader, int]:
    """A reader of `info`'s object (prefetched here if the worker did not); raises InputProblem."""
    from transforms.storage.ranged_reads import ObjectRanges

    if prefetched is None or prefetched.uri != info.uri:
        prefetched = prefetch(info)
    if prefetched.problem is not None:
        raise InputProblem(*prefetched.problem)
    size = prefetched.size_bytes
    raw = ObjectRanges(info.uri, prefetched.generation, size, io_fault("remote", info.uri))
    return ExtentReader(raw, size, remote_chunk_bytes(size), prefetched.extents, prefetched.requests), size


class Prefetcher:
    """`prefetch` for up to `inflight` clips at once on a thread pool (one per worker process)."""

    def __init__(self, inflight: int = DEFAULT_INFLIGHT):
        self.inflight = max(1, inflight)
        self._pool: Optional[ThreadPoolExecutor] = None
        self._lock = threading.Lock()

    def submit(self, info: FileInfo) -> Future:
        with self._lock:
            if self._pool is None:
                from transforms.storage.gcs_http import reserve_connections

                widen_connection_pool(self.inflight + 4)  # metadata requests, through the client
                reserve_connections(self.inflight + 4)    # ranged reads (transforms.gcs_http)
                self._pool = ThreadPoolExecutor(self.inflight, thread_name_prefix="gcs-prefetch")
        return self._pool.submit(prefetch, info)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def result_or_none(future: Optional[Future]) -> Optional[Prefetched]:
    """The prefetched bytes, or None when prefetching itself broke (the reader then reads alone)."""
    if future is None:
        return None
    try:
        return future.result()
    except Exception:  # noqa: BLE001 - a prefetch bug must cost nothing but the prefetch
        return None
