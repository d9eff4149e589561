"""Remembering what FFmpeg read while it opened a file, so the header tier need not read it again.

FFmpeg parses the moov (and, for a fragmented file, every moof) when it opens
an MP4; the sample-table readers then need the same bytes. Reading them a
second time doubled the header tier's bytes read on clips with large tables
(a 7-minute B-frame clip's moov is ~0.5 MB) and costs a second ranged GET on
object storage. `ReadMemory` sits between FFmpeg and the clip's reader, keeps
a copy of what FFmpeg reads during `av.open` (up to a bound), and answers the
readers' lookups from it; every byte is still counted once, when FFmpeg reads it.
"""

from __future__ import annotations

import bisect
import io
from typing import Optional

# Enough for the moov of a 4-hour clip plus FFmpeg's probing reads; memory stays bounded.
RECORD_LIMIT_BYTES = 24 * 1024 * 1024


class ReadMemory(io.RawIOBase):
    """A pass-through reader that records reads until `stop_recording()`."""

    def __init__(self, inner, limit_bytes: int = RECORD_LIMIT_BYTES):
        self._inner = inner
        self._limit = limit_bytes
        self._recording = True
        self._starts: list[int] = []   # sorted start offsets of the recorded runs
        self._runs: list[bytearray] = []
        self._kept = 0

    @property
    def bytes_read(self) -> int:
        return self._inner.bytes_read

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def read(self, size: int = -1) -> bytes:
        at = self._inner.tell()
        data = self._inner.read(size)
        if self._recording and data:
            self._remember(at, data)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def stop_recording(self) -> None:
        self._recording = False

    def forget(self) -> None:
        self._starts, self._runs, self._kept = [], [], 0

    def recall(self, offset: int, size: int) -> Optional[bytes]:
        """The bytes [offset, offset + size) if FFmpeg read all of them while recording."""
        number = bisect.bisect_right(self._starts, offset) - 1
        if number < 0:
            return None
        start, run = self._starts[number], self._runs[number]
        if offset + size > start + len(run):
            return None
        return bytes(run[offset - start: offset - start + size])

    def _remember(self, at: int, data: bytes) -> None:
        if self._kept + len(data) > self._limit:
            self._recording = False  # past the bound: what is kept stays, nothing more
            return
        self._kept += len(data)
        number = bisect.bisect_right(self._starts, at) - 1
        if number >= 0 and self._starts[number] + len(self._runs[number]) == at:
            self._runs[number] += data  # FFmpeg reads on sequentially: extend the run
            return
        self._starts.insert(number + 1, at)
        self._runs.insert(number + 1, bytearray(data))
