"""Filesystem operations of the index directory, on local disks and on gs://.

Local paths use os calls (hard links, rename(2) for atomic replaces); remote
paths go through Beam's FileSystems, whose single-object writes are atomic on
GCS. Nothing here talks HTTP itself.
"""

from __future__ import annotations

import os
import shutil
from typing import BinaryIO

from transforms.storage.readers import is_remote


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return os.path.join(base, *parts)


def _fs():
    from apache_beam.io.filesystems import FileSystems

    from transforms.storage.gcs import use_emulator_credentials

    use_emulator_credentials()
    return FileSystems


def exists(path: str) -> bool:
    return _fs().exists(path) if is_remote(path) else os.path.exists(path)


def list_files(folder: str, suffix: str) -> list[str]:
    """Files directly in `folder` whose names end with `suffix`, sorted."""
    if is_remote(folder):
        prefix = folder.rstrip("/") + "/"
        results = _fs().match([prefix + "*" + suffix])[0].metadata_list
        return sorted(m.path for m in results if "/" not in m.path[len(prefix):])
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.endswith(suffix) and not name.startswith("."))


def list_hidden(folder: str, suffix: str) -> list[str]:
    """Hidden files (`.name`, e.g. a writer's temporary files) directly in `folder`, sorted."""
    if is_remote(folder):
        prefix = folder.rstrip("/") + "/"
        return [path for path in list_files(folder, suffix) if path[len(prefix):].startswith(".")]
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.endswith(suffix) and name.startswith("."))


def list_subfolders(folder: str) -> list[str]:
    """Names of the immediate sub-folders of `folder`."""
    if is_remote(folder):
        prefix = folder.rstrip("/") + "/"
        names = {m.path[len(prefix):].split("/", 1)[0]
                 for m in _fs().match([prefix + "**"])[0].metadata_list if "/" in m.path[len(prefix):]}
        return sorted(names)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def open_read(path: str) -> BinaryIO:
    if is_remote(path):
        return _fs().open(path, compression_type="uncompressed")
    return open(path, "rb")


def read_text(path: str) -> str:
    if is_remote(path) and not exists(path):
        raise FileNotFoundError(path)  # GCS readers fail lazily, with a non-OSError
    with open_read(path) as handle:
        return handle.read().decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    """Replace `path` atomically: readers see the old content or the new, never half."""
    if is_remote(path):  # one object write: atomic on GCS
        with open_write(path) as handle:
            handle.write(data)
        return
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def open_write(path: str) -> BinaryIO:
    """A new file for writing (not atomic: callers write under a hidden name, then rename)."""
    if is_remote(path):
        return _fs().create(path, mime_type="application/octet-stream", compression_type="uncompressed")
    return open(path, "wb")


def rename(source: str, destination: str) -> None:
    if is_remote(source):
        _fs().rename([source], [destination])
    else:
        os.replace(source, destination)


def makedirs(folder: str) -> None:
    if not is_remote(folder):  # object stores have no folders
        os.makedirs(folder, exist_ok=True)


def link_or_copy(source: str, destination: str) -> None:
    """Hard-link locally (no bytes copied); server-side copy on GCS."""
    if is_remote(source) or is_remote(destination):
        _fs().copy([source], [destination])
        return
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


def delete_file(path: str) -> None:
    if is_remote(path):
        _fs().delete([path])
    else:
        os.unlink(path)


def delete_tree(folder: str) -> None:
    if is_remote(folder):
        prefix = folder.rstrip("/") + "/"
        paths = [m.path for m in _fs().match([prefix + "**"])[0].metadata_list]
        if paths:
            _fs().delete(paths)
        return
    shutil.rmtree(folder, ignore_errors=True)
