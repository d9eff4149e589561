"""Opening inputs for reading: local paths and any Beam filesystem (gs://).

Everything FFmpeg reads goes through `CountingReader`, so each clip records
how many bytes it really pulled (the header tier should read a few percent of
a faststart MP4), and remote objects are read by range rather than downloaded.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from typing import Optional

from transforms.faults import io_fault
from transforms.storage.byte_readers import (  # noqa: F401 - callers import them from here too
    READ_ATTEMPTS,
    REMOTE_CHUNK_MAX_BYTES,
    REMOTE_CHUNK_MIN_BYTES,
    BlockCacheReader,
    CountingReader,
    os_error_kind,
    remote_chunk_bytes,
)
from transforms.storage.problems import InputProblem  # noqa: F401 - readers raise it; callers catch it from here

HASH_CHUNK_BYTES = 1 << 20


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def local_path(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri




def check_local_file(path: str) -> os.stat_result:
    """Stat a local input without blocking on FIFOs or following loops forever."""
    try:
        if fault := io_fault("stat", path):
            raise fault
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputProblem("not_found", "dangling symlink") from None
        raise InputProblem("not_found", "file no longer exists") from None
    except PermissionError:
        raise InputProblem("permission_denied", "permission denied on stat") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputProblem("not_a_file", "symlink loop") from None
        raise InputProblem(os_error_kind(exc), f"cannot stat: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        if os.path.islink(path):
            raise InputProblem("not_a_file", "symlink to a directory (folders behind links are not walked)")
        raise InputProblem("not_a_file", "is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise InputProblem("not_a_file", "not a regular file (FIFO, socket or device)")
    if st.st_size == 0:
        raise InputProblem("empty_file", "file is empty (0 bytes)")
    return st



def open_input(uri: str, info=None, prefetched=None) -> tuple[CountingReader, int]:
    """Open `uri` for reading; returns the reader and the size in bytes now.

    gs://: `info` (the listing's FileInfo) gives size and generation without a metadata
    request; `prefetched` are bytes the worker already read (transforms.storage.gcs_prefetch)."""
    if uri.startswith("gs://"):
        return _open_gcs(uri, info, prefetched)
    if is_remote(uri):
        return _open_other_remote(uri)
    path = local_path(uri)
    check_local_file(path)
    try:
        if fault := io_fault("open", path):
            raise fault
        # O_NONBLOCK: a FIFO swapped in after the stat must not hang the worker.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except PermissionError:
        raise InputProblem("permission_denied", "permission denied on open") from None
    except FileNotFoundError:
        raise InputProblem("not_found", "file no longer exists") from None
    except OSError as exc:
        raise InputProblem(os_error_kind(exc), f"cannot open: {exc.strerror}") from None
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode):
        os.close(fd)
        raise InputProblem("not_a_file", "not a regular file")
    # The size of the file actually opened (it may have changed since the stat).
    size = opened.st_size
    if size == 0:
        os.close(fd)
        raise InputProblem("empty_file", "file is empty (0 bytes)")
    return CountingReader(os.fdopen(fd, "rb", buffering=0), size, io_fault("read", path)), size


def sha256_of(reader: CountingReader) -> Optional[str]:
    """Hash the reader's whole view: the bytes the timeline came from.

    None when fewer bytes than the view's size could be read (the file shrank).
    """
    reader.seek(0)
    digest = hashlib.sha256()
    hashed_bytes = 0
    while chunk := reader.read(HASH_CHUNK_BYTES):
        digest.update(chunk)
        hashed_bytes += len(chunk)
    return digest.hexdigest() if hashed_bytes == reader.size_bytes else None


def _open_other_remote(uri: str) -> tuple[CountingReader, int]:
    from apache_beam.io.filesystems import FileSystems

    from transforms.storage.gcs_client import use_emulator_credentials

    use_emulator_credentials()

    try:
        size = remote_metadata(uri).size_in_bytes
        raw = FileSystems.open(uri, compression_type="uncompressed")
    except OSError as exc:
        raise InputProblem(os_error_kind(exc), f"cannot open object: {exc}") from None
    if size == 0:
        raw.close()
        raise InputProblem("empty_file", "object is empty (0 bytes)")
    return CountingReader(raw, size), size


def _open_gcs(uri: str, info=None, prefetched=None) -> tuple[CountingReader, int]:
    """A range-reading GCS object: the head and the moov in one or two GETs, then blocks."""
    from schemas import FileInfo
    from transforms.storage.gcs_prefetch import open_object

    return open_object(info if info is not None and info.uri == uri else FileInfo(uri, None, None), prefetched)


def remote_metadata(uri: str):
    """Beam's FileMetadata of one remote object (raises FileNotFoundError if absent)."""
    from apache_beam.io.filesystems import FileSystems

    from transforms.storage.gcs_client import use_emulator_credentials

    use_emulator_credentials()

    found = FileSystems.match([uri])[0].metadata_list
    if not found:
        raise FileNotFoundError(uri)
    return found[0]


def file_size_now(uri: str) -> Optional[int]:
    try:
        if uri.startswith("gs://"):
            from transforms.storage.gcs import object_info

            return object_info(uri).size_bytes
        if is_remote(uri):
            return remote_metadata(uri).size_in_bytes
        return os.stat(local_path(uri)).st_size
    except OSError:
        return None
