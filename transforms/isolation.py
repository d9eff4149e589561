"""Run per-clip indexing where a native crash or a hang costs one clip, not the run.

FFmpeg can SIGSEGV on hostile input, and a Beam worker that dies repeatedly
fails the whole job. Each DoFn instance therefore keeps one long-lived child
process (`python -m transforms.isolation`) and sends it clips one at a time
over a pipe. A child that dies becomes an error row of kind `crash` (with the
signal); one that overruns its time budget is killed and becomes `timeout`.
The child is reused across clips, so isolation costs a pickle round trip per
clip, not a process start (see BENCHMARKS.md for the measured overhead).
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from typing import BinaryIO, Optional

import pyarrow as pa

from schemas import FRAMES_SCHEMA, FileInfo, IndexConfig
from transforms.index_clip import IndexResult, error_record, index_file

# Restart the child now and then so slow leaks inside FFmpeg cannot accumulate.
CLIPS_PER_CHILD = 5000
# Time budget grows with file size: reading a large clip at a slow 20 MB/s.
BUDGET_BYTES_PER_S = 20e6
_HEADER = struct.Struct(">Q")

# Test-only hooks (set by the test suite, never by users): make the child
# die with SIGSEGV or hang when a uri contains the given text.
CRASH_HOOK_ENV = "CLIPINDEX_TEST_CRASH_ON"
HANG_HOOK_ENV = "CLIPINDEX_TEST_HANG_ON"


def time_budget_s(info: FileInfo, config: IndexConfig) -> float:
    return config.clip_timeout_s + (info.size_bytes or 0) / BUDGET_BYTES_PER_S


def _write_message(stream: BinaryIO, obj) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError("pipe closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_message(stream: BinaryIO):
    (size,) = _HEADER.unpack(_read_exact(stream, _HEADER.size))
    return pickle.loads(_read_exact(stream, size))


def _encode_result(result: IndexResult):
    """Frames cross the pipe as one Arrow IPC message: ~10x cheaper than pickling a RecordBatch."""
    if isinstance(result, tuple):
        clip, frames = result
        return clip, frames.serialize()
    return result


def _decode_result(message) -> IndexResult:
    if isinstance(message, tuple):
        clip, payload = message
        return clip, pa.ipc.read_record_batch(payload, FRAMES_SCHEMA)
    return message


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


def index_in_process(info: FileInfo, config: IndexConfig) -> IndexResult:
    _apply_test_hooks(info)
    return index_file(info, config)


class IsolatedIndexer:
    """A supervised child process that indexes clips one at a time."""

    def __init__(self, config: IndexConfig):
        self._config = config
        self._child: Optional[subprocess.Popen] = None
        self._served = 0

    def _start(self) -> None:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "transforms.isolation"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self._served = 0
        _write_message(self._child.stdin, self._config)

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

    def index(self, info: FileInfo) -> IndexResult:
        if self._child is None or self._served >= CLIPS_PER_CHILD:
            self._stop()
            self._start()
        child = self._child
        budget_s = time_budget_s(info, self._config)
        try:
            _write_message(child.stdin, info)
            ready, _, _ = select.select([child.stdout], [], [], budget_s)
            if not ready:
                self._stop(kill=True)
                return error_record(info, "timeout", "isolate",
                                    f"indexing took longer than {budget_s:.0f} s", self._config.run_id)
            result = _decode_result(_read_message(child.stdout))
        except (EOFError, BrokenPipeError, ConnectionResetError, pickle.UnpicklingError):
            code = self._stop(kill=False)
            return error_record(info, "crash", "isolate", _describe_exit(code), self._config.run_id)
        self._served += 1
        return result

    def close(self) -> None:
        self._stop()


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
    try:
        config = _read_message(protocol_in)
        while True:
            info = _read_message(protocol_in)
            _write_message(protocol_out, _encode_result(index_in_process(info, config)))
    except EOFError:
        return


if __name__ == "__main__":
    _serve()
