"""Find the inputs: glob patterns (local or any Beam filesystem) and manifests.

Matching runs in the launcher, before the pipeline starts, because three
things need the full list first: exit 2 with nothing written when nothing
matches, the progress total, and the incremental plan (what changed since the
last snapshot). README "Design notes" explains the trade-off at scale.
"""

from __future__ import annotations

import os
from typing import Iterable, Iterator

from schemas import FileInfo
from transforms.globbing import has_magic, iter_glob
from transforms.media_io import is_remote, local_path


class MatchProblem(Exception):
    """Bad input specification (exit 2): one line that says what to fix."""


def _local_file_info(path: str) -> FileInfo:
    uri = os.path.abspath(path)
    try:
        st = os.stat(uri)
    except OSError:
        # Dangling symlink, loop, vanished: the indexer names the reason.
        return FileInfo(uri=uri, size_bytes=None, mtime_s=None)
    return FileInfo(uri=uri, size_bytes=st.st_size, mtime_s=st.st_mtime)


def _glob_local(pattern: str) -> Iterator[str]:
    pattern = os.path.expanduser(local_path(pattern))
    if not has_magic(pattern):
        if os.path.lexists(pattern):
            if os.path.isdir(pattern) and not os.path.islink(pattern):
                yield from _glob_local(os.path.join(pattern, "**"))
            else:
                yield pattern
        return
    # Not glob.iglob: it follows directory symlinks, and one link back to a
    # parent folder makes it walk forever (see transforms.globbing).
    yield from iter_glob(pattern)


def _glob_remote(pattern: str) -> Iterator[FileInfo]:
    from apache_beam.io.filesystems import FileSystems

    patterns = [pattern]
    if "/**/" in pattern:
        # Beam's matcher needs at least one folder for `/**/`; users expect zero too.
        patterns.append(pattern.replace("/**/", "/", 1))
    for result in FileSystems.match(patterns):
        for meta in result.metadata_list:
            if meta.path.endswith("/"):
                continue  # folder placeholder objects
            yield FileInfo(uri=meta.path, size_bytes=meta.size_in_bytes,
                           mtime_s=meta.last_updated_in_seconds or None)


def match_patterns(patterns: Iterable[str]) -> list[FileInfo]:
    """Every input matched by any pattern, once, sorted by uri."""
    found: dict[str, FileInfo] = {}
    for pattern in patterns:
        if is_remote(pattern):
            for info in _glob_remote(pattern):
                found.setdefault(info.uri, info)
        else:
            for path in _glob_local(pattern):
                info = _local_file_info(path)
                found.setdefault(info.uri, info)
    return [found[uri] for uri in sorted(found)]


def infos_for_uris(uris: Iterable[str]) -> list[FileInfo]:
    """FileInfo for explicit uris (a manifest): every listed uri is an input."""
    infos: dict[str, FileInfo] = {}
    remote = [u for u in uris if is_remote(u)]
    for uri in uris:
        if not is_remote(uri):
            info = _local_file_info(local_path(uri))
            infos.setdefault(info.uri, info)
    if remote:
        from apache_beam.io.filesystems import FileSystems

        for uri in remote:
            try:
                meta = FileSystems.metadata(uri)
                infos.setdefault(uri, FileInfo(uri, meta.size_in_bytes, meta.last_updated_in_seconds))
            except (FileNotFoundError, OSError):
                infos.setdefault(uri, FileInfo(uri, None, None))
    return [infos[u] for u in sorted(infos)]
