"""Keep freed memory in the process instead of handing it back to the kernel after every clip.

Opening a clip makes FFmpeg allocate and zero a few MB (demuxer tables, the decoder
probed by find_stream_info) and free them on close. With glibc's defaults the heap
top is trimmed on every free, so the next clip faults the same pages in again: a
quarter of `av.open`'s time was page faults and page zeroing in the kernel. A 64 MiB
top pad keeps those pages mapped: `av.open` of a one-minute clip went from ~870 to
~580 us, with the same peak RSS (BENCHMARKS.md). glibc only;
elsewhere, and when the user tunes malloc through MALLOC_* variables, nothing changes.
Standard library only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TOP_PAD = -2  # glibc's mallopt parameter number
TOP_PAD_BYTES = 64 * 1024 * 1024


def keep_heap_warm() -> bool:
    """Set glibc's M_TOP_PAD for this process; True when it took effect."""
    if any(name.startswith("MALLOC_") for name in os.environ):
        return False  # the user's own malloc tuning wins
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_TOP_PAD, TOP_PAD_BYTES))
