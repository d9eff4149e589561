"""Run per-clip indexing where a native crash or a hang costs one clip, not the run.

FFmpeg can SIGSEGV on hostile input, and a Beam worker that dies repeatedly
fails the whole job. Each DoFn instance therefore keeps long-lived child
processes (`python -m transforms.isolation`; one on distributed runners,
`--workers` of them on the local runner, see pipeline.layout) and sends each
clips one at a time over a pipe. A child that dies becomes an error row of kind
`crash` (with the signal); one that overruns its time budget is killed and
becomes `timeout`. Children are reused across clips, so isolation costs a
pickle round trip per clip, not a process start (`python -m bench.isolation`
measures the overhead).
"""

from __future__ import annotations

import collections
import dataclasses
import fcntl
import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import time
from typing import BinaryIO, Optional

import pyarrow as pa

from schemas import FRAMES_SCHEMA, SAMPLES_SCHEMA, FileInfo, IndexConfig
from transforms import prestart
from transforms.malloc_tuning import keep_heap_warm
from transforms.index_clip import IndexedClip, IndexResult, error_record, index_file

# Restart the child now and then so slow leaks inside FFmpeg cannot accumulate.
CLIPS_PER_CHILD = 5000
# Starting the child (importing PyAV, numpy, pyarrow) is not charged to a clip's
# budget; a child that cannot start within this is a broken worker, not a bad clip.
STARTUP_TIMEOUT_S = 120.0
_READY = "ready"
# Time budget grows with file size: reading a large clip at a slow 20 MB/s.
BUDGET_BYTES_PER_S = 20e6
_HEADER = struct.Struct(">QI")  # pickle length, out-of-band buffer count

# Test-only hooks (set by the test suite, never by users): make the child
# die with SIGSEGV or hang when a uri contains the given text.
CRASH_HOOK_ENV = "CLIPINDEX_TEST_CRASH_ON"
HANG_HOOK_ENV = "CLIPINDEX_TEST_HANG_ON"


def time_budget_s(info: FileInfo, config: IndexConfig) -> float:
    return config.clip_timeout_s + (info.size_bytes or 0) / BUDGET_BYTES_PER_S


def _write_all(stream: BinaryIO, data) -> None:
    # Unbuffered pipes may take a large message (an hour of frames) in parts.
    view = memoryview(data).cast("B")
    while view:
        view = view[stream.write(view):]


def _write_message(stream: BinaryIO, obj) -> None:
    """Pickle protocol 5 with out-of-band buffers: Arrow buffers go down the pipe as they are."""
    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    lengths = struct.pack(f">{len(raws)}Q", *(raw.nbytes for raw in raws))
    _write_all(stream, _HEADER.pack(len(payload), len(raws)) + lengths + payload)
    for raw in raws:
        _write_all(stream, raw)
    stream.flush()


def _read_exact(stream: BinaryIO, size: int) -> bytearray:
    """`size` bytes, read straight into one buffer (no copies of a minute of frames)."""
    data = bytearray(size)
    view = memoryview(data)
    while view:
        got = stream.readinto(view)
        if not got:
            raise EOFError("pipe closed")
        view = view[got:]
    return data


def _read_message(stream: BinaryIO):
    size, count = _HEADER.unpack(_read_exact(stream, _HEADER.size))
    lengths = struct.unpack(f">{count}Q", _read_exact(stream, 8 * count)) if count else ()
    payload = _read_exact(stream, size)
    return pickle.loads(payload, buffers=[_read_exact(stream, length) for length in lengths])


def _send_result(stream: BinaryIO, result: IndexResult) -> None:
    """One message per clip, then one per frames piece (see transforms.frame_pieces).

    Batches cross the pipe as Arrow IPC messages (~10x cheaper than pickling a
    RecordBatch); each piece is built, sent and dropped before the next, so a
    4-hour clip never exists here as one batch or one message.
    """
    if not isinstance(result, IndexedClip):
        _write_message(stream, result)
        return
    pieces = result.frame_pieces
    samples = result.samples.serialize() if result.samples is not None else None
    _write_message(stream, (result.clip, len(pieces), samples, result.thumbnail_jpeg, result.storage))
    for piece in pieces:
        _write_message(stream, piece.serialize())


def _receive_result(stream: BinaryIO) -> IndexResult:
    message = _read_message(stream)
    if not isinstance(message, tuple):
        return message
    clip, piece_count, samples, thumbnail, storage = message
    pieces = [pa.ipc.read_record_batch(_read_message(stream), FRAMES_SCHEMA) for _ in range(piece_count)]
    return IndexedClip(clip, pieces,
                       pa.ipc.read_record_batch(samples, SAMPLES_SCHEMA) if samples is not None else None,
                       thumbnail, storage)


def quiet_ffmpeg() -> None:
    """PyAV's logging bridge can deadlock threaded workers; FFmpeg's chatter is not needed."""
    import av.logging

    av.logging.set_level(None)


def _apply_test_hooks(info: FileInfo) -> None:
    crash_on = os.environ.get(CRASH_HOOK_ENV)
    if crash_on and crash_on in info.uri:
        os.kill(os.getpid(), signal.SIGSEGV)
    hang_on = os.environ.get(HANG_HOOK_ENV)
    if hang_on and hang_on in info.uri:
        time.sleep(3600)


def index_in_process(info: FileInfo, config: IndexConfig, prefetched=None) -> IndexResult:
    _apply_test_hooks(info)
    return index_file(info, config, prefetched)


@dataclasses.dataclass
class _InFlight:
    info: FileInfo
    budget_s: float
    started: float  # monotonic time the child could begin it
    prefetched: object = None  # transforms.gcs_prefetch.Prefetched: bytes the worker already read


class IsolatedIndexer:
    """A supervised child process that indexes clips in order, one at a time.

    `index()` is one clip in, one row out. `submit()` / `next_result()` let a
    caller keep one clip queued in the pipe behind the one being read, so the
    child goes straight on to it: one process hand-off per clip instead of
    two, and the caller's own work overlaps the child's. Rows come back in
    submission order; when the child dies or hangs, only the clip it was
    reading gets the `crash` / `timeout` row, and the queued ones are sent
    again to a fresh child.
    """

    def __init__(self, config: IndexConfig):
        self._config = config
        self._child: Optional[subprocess.Popen] = None
        self._ready = False
        self._served = 0
        self._in_flight: collections.deque[_InFlight] = collections.deque()
        self._message_limit = 0  # prefetched bytes that fit the child's stdin pipe with one message

    def start(self) -> None:
        """Start the child now without waiting: its imports overlap the worker's own start-up."""
        if self._child is None:
            self._spawn()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def stdout(self):
        """The pipe rows arrive on (for select); only meaningful while clips are in flight."""
        return self._child.stdout

    def head_deadline(self) -> float:
        """Monotonic time at which the clip being read runs out of budget."""
        head = self._in_flight[0]
        return head.started + head.budget_s

    @property
    def child_pid(self) -> Optional[int]:
        """The running child's pid (benchmarks read its CPU time), or None."""
        return self._child.pid if self._child is not None else None

    def _spawn(self) -> None:
        self._child = prestart.take() or prestart.spawn()
        _widen_pipe(self._child.stdout)
        # Prefetched bytes ride with the clip only while one message fits the pipe: a write
        # then never waits on a child that is itself waiting to hand back a large result.
        self._message_limit = _widen_pipe(self._child.stdin) - PIPE_SLACK_BYTES
        self._ready = False
        self._served = 0
        _write_message(self._child.stdin, self._config)

    def _await_ready(self) -> None:
        # The child's start-up is not counted in the first clip's time budget
        # (a small --clip-timeout-s would otherwise time out a healthy clip).
        ready, _, _ = select.select([self._child.stdout], [], [], STARTUP_TIMEOUT_S)
        try:
            if not ready or _read_message(self._child.stdout) != _READY:
                raise EOFError("no ready message")
        except (EOFError, pickle.UnpicklingError):
            code = self._stop(kill=True)
            raise RuntimeError(f"the isolated indexing process did not start (exit status {code})") from None
        self._ready = True

    def _stop(self, kill: bool = False) -> Optional[int]:
        child, self._child = self._child, None
        if child is None:
            return None
        if kill:
            child.kill()
        else:
            child.stdin.close()
        try:
            return child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()
        finally:
            for stream in (child.stdin, child.stdout):
                if not stream.closed:
                    stream.close()

    def submit(self, info: FileInfo, prefetched=None) -> None:
        """Queue a clip for the child; its row comes from a later `next_result()`."""
        if not self._in_flight and (self._child is None or self._served >= CLIPS_PER_CHILD
                                    or self._child.poll() is not None):
            # Idle: a child that died meanwhile (e.g. the OOM killer) is replaced
            # before it can be blamed on this clip.
            self._stop()
            self._spawn()
        if not self._ready:
            self._await_ready()
        self._send(info, prefetched)

    def _send(self, info: FileInfo, prefetched=None) -> None:
        started = time.monotonic()  # only counts for the head; later ones reset it below
        self._in_flight.append(_InFlight(info, time_budget_s(info, self._config), started, prefetched))
        fits = prefetched is not None and prefetched.nbytes <= self._message_limit
        try:
            _write_message(self._child.stdin, (info, prefetched) if fits else info)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child died on an earlier clip: next_result() names that one

    def next_result(self) -> IndexResult:
        """The row of the oldest submitted clip (blocks until it is ready or over budget)."""
        head = self._in_flight[0]
        remaining_s = head.budget_s - (time.monotonic() - head.started)
        try:
            ready, _, _ = select.select([self._child.stdout], [], [], max(0.0, remaining_s))
            if not ready:
                self._stop(kill=True)
                return self._replace_child(head, "timeout", f"indexing took longer than {head.budget_s:.0f} s")
            result = _receive_result(self._child.stdout)
        except (EOFError, BrokenPipeError, ConnectionResetError, pickle.UnpicklingError):
            return self._replace_child(head, "crash", _describe_exit(self._stop(kill=False)))
        self._in_flight.popleft()
        self._served += 1
        if self._in_flight:
            self._in_flight[0].started = time.monotonic()  # the child goes straight on to it
        return result

    def _replace_child(self, head: _InFlight, kind: str, message: str) -> IndexResult:
        """Blame the clip being read; give the queued ones to a fresh child."""
        self._in_flight.popleft()
        queued = [(entry.info, entry.prefetched) for entry in self._in_flight]
        self._in_flight.clear()
        if queued:
            self._spawn()
            self._await_ready()
            for info, prefetched in queued:
                self._send(info, prefetched)
        return error_record(head.info, kind, "isolate", message, self._config.run_id)

    def index(self, info: FileInfo) -> IndexResult:
        """One clip in, its row out (nothing may be queued)."""
        if self._in_flight:
            raise RuntimeError("index() while clips are queued: drain them with next_result()")
        self.submit(info)
        return self.next_result()

    def discard_queued(self) -> None:
        """Forget queued clips (their bundle failed and will be retried)."""
        if self._in_flight:
            self._in_flight.clear()
            self._stop(kill=True)

    def close(self) -> None:
        self._in_flight.clear()
        self._stop()


class IsolatedPool:
    """Several IsolatedIndexers read clips at once; rows come back as they finish.

    Each child keeps its own order, budget and crash handling; the pool only
    spreads clips over the least busy child and waits on all their pipes.
    """

    def __init__(self, config: IndexConfig, children: int = 1):
        self._indexers = [IsolatedIndexer(config) for _ in range(max(1, children))]

    @property
    def size(self) -> int:
        return len(self._indexers)

    @property
    def in_flight(self) -> int:
        return sum(indexer.in_flight for indexer in self._indexers)

    def start(self) -> None:
        for indexer in self._indexers:
            indexer.start()

    def submit(self, info: FileInfo, prefetched=None) -> None:
        min(self._indexers, key=lambda indexer: indexer.in_flight).submit(info, prefetched)

    def next_result(self) -> IndexResult:
        """The first row any child finishes (blocks; a child over budget yields its timeout row)."""
        busy = [indexer for indexer in self._indexers if indexer.in_flight]
        if len(busy) == 1:
            return busy[0].next_result()
        soonest = min(busy, key=lambda indexer: indexer.head_deadline())
        wait_s = max(0.0, soonest.head_deadline() - time.monotonic())
        ready, _, _ = select.select([indexer.stdout for indexer in busy], [], [], wait_s)
        if not ready:
            return soonest.next_result()  # over budget: it kills its child and blames the clip
        return next(indexer for indexer in busy if indexer.stdout is ready[0]).next_result()

    def discard_queued(self) -> None:
        for indexer in self._indexers:
            indexer.discard_queued()

    def close(self) -> None:
        for indexer in self._indexers:
            indexer.close()


# A clip's rows (~100 KB for a minute at 30 fps) overflow Linux's default 64 KiB
# pipe: the child then sits in write() until this process reads, instead of
# going on to the next clip. 1 MiB is the largest size an unprivileged process
# may ask for (/proc/sys/fs/pipe-max-size).
PIPE_BYTES = 1024 * 1024
DEFAULT_PIPE_BYTES = 64 * 1024
PIPE_SLACK_BYTES = 16 * 1024  # a message's FileInfo and framing beside its prefetched bytes


def _widen_pipe(stream) -> int:
    """Ask for PIPE_BYTES; returns the pipe's size now."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if set_size is None:
        return DEFAULT_PIPE_BYTES
    try:
        fcntl.fcntl(stream.fileno(), set_size, PIPE_BYTES)
    except OSError:
        pass  # a lower pipe-max-size: the default still works, only slower
    try:
        return fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_GETPIPE_SZ", 1032))
    except OSError:
        return DEFAULT_PIPE_BYTES


def _describe_exit(code: Optional[int]) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"worker process died with {name} while reading this file"
    return f"worker process exited with status {code} while reading this file"


def _serve() -> None:
    # The protocol owns the real stdout; anything native code prints goes to stderr.
    protocol_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    protocol_in = os.fdopen(os.dup(0), "rb", buffering=0)
    quiet_ffmpeg()
    keep_heap_warm()
    # A crash inside FFmpeg must not leave a core dump the size of the process
    # in the worker's folder; the error row already names the signal.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        config = _read_message(protocol_in)
        _write_message(protocol_out, _READY)
        while True:
            message = _read_message(protocol_in)
            info, prefetched = message if isinstance(message, tuple) else (message, None)
            _send_result(protocol_out, index_in_process(info, config, prefetched))
    except EOFError:
        return


if __name__ == "__main__":
    _serve()
