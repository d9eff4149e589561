"""Readers FFmpeg reads inputs through: byte counting, a block cache for remote objects, and the
error kind an OSError names. No storage back end here (storage.readers opens inputs, and
storage.gcs_prefetch hands prefetched bytes to these), so both import this without a cycle."""

from __future__ import annotations

import errno
import io
import time
from typing import BinaryIO, Optional

# Each remote read fetches one ranged chunk. Bigger chunks mean fewer round
# trips, smaller ones fetch less beyond the index; 1/64 of the object, within
# these bounds, keeps a faststart header-tier read to a few percent of any clip.
REMOTE_CHUNK_MIN_BYTES = 4 * 1024
REMOTE_CHUNK_MAX_BYTES = 1024 * 1024


def remote_chunk_bytes(size_bytes: int) -> int:
    return max(REMOTE_CHUNK_MIN_BYTES, min(REMOTE_CHUNK_MAX_BYTES, size_bytes // 64))


# errno values that say "this is not a file that can be read", not "the storage failed".
_NOT_A_FILE_ERRNOS = {errno.ELOOP, errno.ENXIO, errno.ENODEV, errno.EISDIR}
# A non-blocking read that found no data yet: retried this many times, with a pause growing
# from READ_RETRY_PAUSE_S, before it becomes an io_error.
READ_ATTEMPTS = 5
READ_RETRY_PAUSE_S = 0.05


def os_error_kind(exc: OSError) -> str:
    """The error kind an OSError met while reading an input names.

    Only a missing file is `not_found`: EIO (a failing disk), ESTALE (a stale NFS
    handle), EAGAIN after retries and a remote read that keeps failing are `io_error`.
    """
    if isinstance(exc, FileNotFoundError) or exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "not_found"
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM):
        return "permission_denied"
    if exc.errno in _NOT_A_FILE_ERRNOS:
        return "not_a_file"
    return "io_error"


class CountingReader(io.RawIOBase):
    """A seekable reader that counts the bytes handed to FFmpeg.

    It shows exactly the first `size_bytes` bytes of the file (its size when
    opened): a file that grows while it is read (a recording still being
    written) is indexed and hashed as the one consistent prefix that
    `size_bytes` describes, never as a mix of two lengths.
    """

    def __init__(self, raw: BinaryIO, size_bytes: int, fault: Optional[OSError] = None):
        self._raw = raw
        self.size_bytes = size_bytes
        self.bytes_read = 0
        self._fault = fault  # test-only (transforms.faults): raised by every read after the first
        self._reads = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        left = max(0, self.size_bytes - self._raw.tell())
        data = self._read_raw(left if size is None or size < 0 else min(size, left))
        self.bytes_read += len(data)
        return data

    def _read_raw(self, size: int) -> bytes:
        """One read of the file; a non-blocking read that finds nothing yet (EAGAIN: the raw
        file answers None) is retried a few times, then it is an io_error."""
        self._reads += 1
        if self._fault is not None and self._reads > 1:
            raise self._fault
        for attempt in range(READ_ATTEMPTS):
            data = self._raw.read(size)
            if data is not None:
                return data
            time.sleep(READ_RETRY_PAUSE_S * 2 ** attempt)
        raise OSError(errno.EAGAIN, f"read kept answering EAGAIN after {READ_ATTEMPTS} attempts")

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:  # the end is where this view ends, not where the file is now
            return self._raw.seek(self.size_bytes + offset, io.SEEK_SET)
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()


class BlockCacheReader(CountingReader):
    """Range reads of a remote object in whole blocks, each fetched at most once.

    FFmpeg reads the index, seeks into the media data, and the rotation walker
    re-reads box headers; without a cache each revisit would be another GET.
    `bytes_read` counts bytes fetched from storage.
    """

    MAX_CACHED_BYTES = 16 * 1024 * 1024  # memory stays bounded whatever the object's size

    def __init__(self, raw: BinaryIO, size_bytes: int, block_bytes: int):
        super().__init__(raw, size_bytes)
        self._block = block_bytes
        self._blocks: dict[int, bytes] = {}
        self._pos = 0

    def _fetch(self, number: int) -> bytes:
        block = self._blocks.get(number)
        if block is None:
            if len(self._blocks) * self._block >= self.MAX_CACHED_BYTES:
                self._blocks.pop(next(iter(self._blocks)))
            self._raw.seek(number * self._block)
            block = self._raw.read(self._block)
            self.bytes_read += len(block)
            self._blocks[number] = block
        return block

    def read(self, size: int = -1) -> bytes:
        end = self.size_bytes if size is None or size < 0 else min(self.size_bytes, self._pos + size)
        parts = []
        while self._pos < end:
            number, offset = divmod(self._pos, self._block)
            block = self._fetch(number)
            piece = block[offset: offset + (end - self._pos)]
            if not piece:
                break
            parts.append(piece)
            self._pos += len(piece)
        return b"".join(parts)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size_bytes}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos
