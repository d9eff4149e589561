"""Run per-clip indexing where a native crash or a hang costs one clip, not the run.

FFmpeg can SIGSEGV on hostile input, and a Beam worker that dies repeatedly
fails the whole job. Each DoFn instance therefore keeps long-lived child
processes (`python -m transforms.isolation.child`; one on distributed runners,
`--workers` of them on the local runner, see pipeline.layout) and sends each
clips one at a time over a pipe. A child that dies becomes an error row of kind
`crash` (with the signal); one that overruns its time budget is killed and
becomes `timeout`. Children are reused across clips, so isolation costs a
pickle round trip per clip (transforms.isolation.wire), not a process start
(`python -m bench.isolation` measures the overhead).
"""

from __future__ import annotations

import collections
import dataclasses
import pickle
import select
import signal
import subprocess
import time
from typing import Optional


from schemas import FileInfo, IndexConfig
from transforms.isolation import prestart
from transforms.clip.index_clip import IndexResult, error_record
from transforms.isolation.wire import PIPE_SLACK_BYTES, READY, read_message, receive_result, widen_pipe, write_message

# Restart the child now and then so slow leaks inside FFmpeg cannot accumulate.
CLIPS_PER_CHILD = 5000
# Starting the child (importing PyAV, numpy, pyarrow) is not charged to a clip's
# budget; a child that cannot start within this is a broken worker, not a bad clip.
STARTUP_TIMEOUT_S = 120.0
# Time budget grows with file size: reading a large clip at a slow 20 MB/s.
BUDGET_BYTES_PER_S = 20e6


def time_budget_s(info: FileInfo, config: IndexConfig) -> float:
    return config.clip_timeout_s + (info.size_bytes or 0) / BUDGET_BYTES_PER_S


@dataclasses.dataclass
class _InFlight:
    info: FileInfo
    budget_s: float
    started: float  # monotonic time the child could begin it
    prefetched: object = None  # transforms.storage.gcs_prefetch.Prefetched: bytes the worker already read


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
        widen_pipe(self._child.stdout)
        # Prefetched bytes ride with the clip only while one message fits the pipe: a write
        # then never waits on a child that is itself waiting to hand back a large result.
        self._message_limit = widen_pipe(self._child.stdin) - PIPE_SLACK_BYTES
        self._ready = False
        self._served = 0
        write_message(self._child.stdin, self._config)

    def _await_ready(self) -> None:
        # The child's start-up is not counted in the first clip's time budget
        # (a small --clip-timeout-s would otherwise time out a healthy clip).
        ready, _, _ = select.select([self._child.stdout], [], [], STARTUP_TIMEOUT_S)
        try:
            if not ready or read_message(self._child.stdout) != READY:
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
            write_message(self._child.stdin, (info, prefetched) if fits else info)
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
            result = receive_result(self._child.stdout)
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
        return error_record(head.info, kind, "isolate", message, self._config.run_id, self._config.archive_root)

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
def _describe_exit(code: Optional[int]) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"worker process died with {name} while reading this file"
    return f"worker process exited with status {code} while reading this file"
