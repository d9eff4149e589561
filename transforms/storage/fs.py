"""Filesystem operations of the index directory, on local disks and on gs://.

One small interface, two stores: `LocalStore` (os calls, hard links, rename(2) for
atomic replaces) and `ObjectStore` (Beam's FileSystems, whose single-object writes are
atomic on GCS); `store_for(path)` picks one, and the module functions below are what the
rest of clipindex calls, so no caller branches on local vs remote for these operations.
Object generations (which Beam's FileSystems does not expose) are read through
google-cloud-storage in storage.gcs and storage.ranged_reads. Nothing here talks HTTP itself.
"""

from __future__ import annotations

import os
import shutil
from typing import BinaryIO

from transforms.storage.readers import is_remote


def _durable_temp(path: str, data: bytes) -> str:
    """`data` in a temporary file beside `path`, on disk before it is renamed or linked into place."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return tmp


class LocalStore:
    """A local disk: os calls, hard links, rename(2) for atomic replaces."""

    def join(self, base: str, *parts: str) -> str:
        return os.path.join(base, *parts)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def list_names(self, folder: str) -> list[str]:
        return sorted(os.listdir(folder)) if os.path.isdir(folder) else []

    def list_files(self, folder: str, suffix: str, hidden: bool) -> list[str]:
        return [os.path.join(folder, name) for name in self.list_names(folder)
                if name.endswith(suffix) and name.startswith(".") == hidden]

    def list_subfolders(self, folder: str) -> list[str]:
        return self.list_names(folder)

    def open_read(self, path: str) -> BinaryIO:
        return open(path, "rb")

    def write_bytes(self, path: str, data: bytes) -> None:
        os.replace(_durable_temp(path, data), path)

    def open_write(self, path: str) -> BinaryIO:
        return open(path, "wb")

    def rename(self, source: str, destination: str) -> None:
        os.replace(source, destination)

    def makedirs(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)

    def link_or_copy(self, source: str, destination: str) -> None:
        try:
            os.link(source, destination)  # no bytes copied
        except OSError:
            shutil.copyfile(source, destination)

    def delete_file(self, path: str) -> None:
        os.unlink(path)

    def delete_tree(self, folder: str) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    def put_if_absent(self, path: str, data: bytes) -> None:
        tmp = _durable_temp(path, data)
        try:
            os.link(tmp, path)  # link(2) fails when the name exists: no writer replaces another's commit
        finally:
            os.unlink(tmp)

    def size(self, path: str) -> int:
        return os.path.getsize(path)

    def list_tree(self, folder: str) -> list[str]:
        return sorted(os.path.join(top, name) for top, _, names in os.walk(folder) for name in names)


class ObjectStore:
    """gs:// (or any Beam filesystem): single-object writes are atomic, there are no folders,
    copies are server-side."""

    def join(self, base: str, *parts: str) -> str:
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])

    def exists(self, path: str) -> bool:
        return _fs().exists(path)

    def list_files(self, folder: str, suffix: str, hidden: bool) -> list[str]:
        prefix = folder.rstrip("/") + "/"
        results = _fs().match([prefix + "*" + suffix])[0].metadata_list
        names = [m.path for m in results if "/" not in m.path[len(prefix):]]
        # Unlike a local folder, a plain listing here has always included hidden objects too
        # (kept as it was; see the issue 21 note).
        return sorted(path for path in names if path[len(prefix):].startswith(".") or not hidden)

    def list_subfolders(self, folder: str) -> list[str]:
        prefix = folder.rstrip("/") + "/"
        return sorted({m.path[len(prefix):].split("/", 1)[0]
                       for m in _fs().match([prefix + "**"])[0].metadata_list if "/" in m.path[len(prefix):]})

    def open_read(self, path: str) -> BinaryIO:
        return _fs().open(path, compression_type="uncompressed")

    def write_bytes(self, path: str, data: bytes) -> None:
        with self.open_write(path) as handle:  # one object write: atomic on GCS
            handle.write(data)

    def open_write(self, path: str) -> BinaryIO:
        return _fs().create(path, mime_type="application/octet-stream", compression_type="uncompressed")

    def rename(self, source: str, destination: str) -> None:
        _fs().rename([source], [destination])

    def makedirs(self, folder: str) -> None:
        pass  # object stores have no folders

    def link_or_copy(self, source: str, destination: str) -> None:
        _fs().copy([source], [destination])

    def delete_file(self, path: str) -> None:
        _fs().delete([path])

    def delete_tree(self, folder: str) -> None:
        paths = self.list_tree(folder)
        if paths:
            _fs().delete(paths)

    def put_if_absent(self, path: str, data: bytes) -> None:
        from google.api_core.exceptions import PreconditionFailed

        from transforms.storage.gcs import split_uri, storage_client

        bucket, name = split_uri(path)
        blob = storage_client().bucket(bucket).blob(name)
        try:  # generation 0: only if no live object has this name (GCS's put-if-absent)
            blob.upload_from_string(data, if_generation_match=0)
        except PreconditionFailed:
            # The client retries a write whose answer was lost: its first attempt may be the object
            # that is there now. Ours (the bytes hold a commit timestamp) is no conflict.
            if blob.download_as_bytes() != data:
                raise FileExistsError(path) from None

    def size(self, path: str) -> int:
        (found,) = _fs().match([path], [1])[0].metadata_list
        return found.size_in_bytes

    def list_tree(self, folder: str) -> list[str]:
        return sorted(m.path for m in _fs().match([folder.rstrip("/") + "/**"])[0].metadata_list)


_LOCAL, _OBJECTS = LocalStore(), ObjectStore()


def store_for(*paths: str):
    """The store of these paths: object storage if any of them is remote."""
    return _OBJECTS if any(is_remote(path) for path in paths) else _LOCAL


def _fs():
    from apache_beam.io.filesystems import FileSystems

    from transforms.storage.gcs_client import use_emulator_credentials

    use_emulator_credentials()
    return FileSystems


# The index folder's operations, for any path (callers never branch on local vs remote).

def join(base: str, *parts: str) -> str:
    return store_for(base).join(base, *parts)


def exists(path: str) -> bool:
    return store_for(path).exists(path)


def list_files(folder: str, suffix: str) -> list[str]:
    """Files directly in `folder` whose names end with `suffix` (not hidden ones), sorted."""
    return store_for(folder).list_files(folder, suffix, hidden=False)


def list_hidden(folder: str, suffix: str) -> list[str]:
    """Hidden files (`.name`, e.g. a writer's temporary files) directly in `folder`, sorted."""
    return store_for(folder).list_files(folder, suffix, hidden=True)


def list_subfolders(folder: str) -> list[str]:
    """Names of the immediate sub-folders of `folder`."""
    return store_for(folder).list_subfolders(folder)


def open_read(path: str) -> BinaryIO:
    return store_for(path).open_read(path)


def read_text(path: str) -> str:
    if is_remote(path) and not exists(path):
        raise FileNotFoundError(path)  # GCS readers fail lazily, with a non-OSError
    with open_read(path) as handle:
        return handle.read().decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    """Replace `path` atomically: readers see the old content or the new, never half."""
    store_for(path).write_bytes(path, data)


def open_write(path: str) -> BinaryIO:
    """A new file for writing (not atomic: callers write under a hidden name, then rename)."""
    return store_for(path).open_write(path)


def rename(source: str, destination: str) -> None:
    store_for(source).rename(source, destination)


def makedirs(folder: str) -> None:
    store_for(folder).makedirs(folder)


def link_or_copy(source: str, destination: str) -> None:
    """Hard-link locally (no bytes copied); server-side copy on GCS."""
    store_for(source, destination).link_or_copy(source, destination)


def delete_file(path: str) -> None:
    store_for(path).delete_file(path)


def delete_tree(folder: str) -> None:
    store_for(folder).delete_tree(folder)


def put_if_absent(path: str, data: bytes) -> None:
    """Create `path` whole, or raise FileExistsError if it exists (a Delta commit's rule)."""
    store_for(path).put_if_absent(path, data)


def size(path: str) -> int:
    return store_for(path).size(path)


def list_tree(folder: str) -> list[str]:
    """Every file below `folder`, at any depth, hidden ones included, sorted."""
    return store_for(folder).list_tree(folder)
