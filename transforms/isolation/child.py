"""The reader child: `python -m transforms.isolation.child` reads clips sent over its stdin and
answers with their rows on its stdout (transforms.isolation.wire), one clip at a time."""

from __future__ import annotations

import os
import resource

from schemas import FileInfo, IndexConfig
from transforms.clip.index_clip import IndexResult, index_file
from transforms.faults import reader_fault
from transforms.isolation.malloc_tuning import keep_heap_warm
from transforms.isolation.wire import READY, read_message, send_result, write_message


def quiet_ffmpeg() -> None:
    """PyAV's logging bridge can deadlock threaded workers; FFmpeg's chatter is not needed."""
    import av.logging

    av.logging.set_level(None)


def index_in_process(info: FileInfo, config: IndexConfig, prefetched=None) -> IndexResult:
    fault = reader_fault()
    if fault is not None:
        fault(info.uri)
    return index_file(info, config, prefetched)


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
        config = read_message(protocol_in)
        write_message(protocol_out, READY)
        while True:
            message = read_message(protocol_in)
            info, prefetched = message if isinstance(message, tuple) else (message, None)
            send_result(protocol_out, index_in_process(info, config, prefetched))
    except EOFError:
        return


if __name__ == "__main__":
    _serve()
