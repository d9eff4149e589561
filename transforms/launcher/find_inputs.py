"""Find the inputs: glob patterns (local or any Beam filesystem) and manifests.

Matching runs in the launcher, before the pipeline starts, because three
things need the full list first: exit 2 with nothing written when nothing
matches, the progress total, and the incremental plan (what changed since the
last snapshot). docs/design-notes.md explains the trade-off at scale.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, Iterator

from schemas import FileInfo
from transforms.storage.globbing import has_magic, iter_glob
from transforms.storage.readers import is_remote, local_path, remote_metadata
from transforms.launcher.selection import Collector, Selection, exclude_matcher


LISTING_THREADS = 32


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


def _effective_pattern(pattern: str) -> str:
    """A local pattern as it is walked: a folder named without wildcards means everything under it."""
    pattern = os.path.expanduser(local_path(pattern))
    if not has_magic(pattern) and os.path.isdir(pattern) and not os.path.islink(pattern):
        return os.path.join(pattern, "**")
    return pattern


def _glob_local(pattern: str, case_sensitive: bool, on_hidden: Callable[[str], None]) -> Iterator[str]:
    if not has_magic(pattern):
        if os.path.lexists(pattern):
            yield pattern
        return
    # Not glob.iglob: it follows directory symlinks, and one link back to a
    # parent folder makes it walk forever (see transforms.storage.globbing).
    yield from iter_glob(pattern, case_sensitive, on_hidden)


def _glob_remote(pattern: str, case_sensitive: bool, on_hidden: Callable[[str], None]) -> Iterator[FileInfo]:
    if pattern.startswith("gs://"):
        # Listed with google-cloud-storage to get each object's generation,
        # which the incremental plan uses as the change marker.
        from transforms.storage.gcs import list_matching

        yield from list_matching(pattern, case_sensitive, on_hidden=lambda info: on_hidden(info.uri))
        return
    from apache_beam.io.filesystems import FileSystems

    # Other Beam filesystems match as Beam does (case-sensitive).
    for result in FileSystems.match([pattern]):
        for meta in result.metadata_list:
            if not meta.path.endswith("/"):
                yield FileInfo(uri=meta.path, size_bytes=meta.size_in_bytes,
                               mtime_s=meta.last_updated_in_seconds or None)


def select_inputs(patterns: Iterable[str], case_sensitive: bool = False, excludes: Iterable[str] = ()) -> Selection:
    """Every input matched by any pattern, once, sorted by uri; and what was skipped, counted.

    Matching is case-insensitive unless `case_sensitive` (cameras write `.MP4`). Sidecar
    files, hidden files and `excludes` are left out (see transforms.launcher.selection).
    """
    collector = Collector()
    for pattern in patterns:
        if is_remote(pattern):
            for info in _glob_remote(pattern, case_sensitive, collector.add_hidden):
                collector.add(pattern, info)
        else:
            walked = _effective_pattern(pattern)
            for path in _glob_local(walked, case_sensitive, lambda p: collector.add_hidden(os.path.abspath(p))):
                collector.add(walked, _local_file_info(path))
    return collector.selection(exclude_matcher(excludes, case_sensitive))


def match_patterns(patterns: Iterable[str], case_sensitive: bool = False) -> list[FileInfo]:
    """Every input matched by any pattern, once, sorted by uri."""
    return select_inputs(patterns, case_sensitive).files


def select_uris(uris: Iterable[str], case_sensitive: bool = False, excludes: Iterable[str] = ()) -> Selection:
    """A manifest's inputs: every listed uri, found or not, less the `excludes`."""
    infos = infos_for_uris(uris)
    excluded = exclude_matcher(excludes, case_sensitive)
    kept = [info for info in infos if not excluded(info.uri)]
    return Selection(files=kept, excluded=len(infos) - len(kept))


def infos_for_uris(uris: Iterable[str]) -> list[FileInfo]:
    """FileInfo for explicit uris (a manifest): every listed uri is an input, found or not."""
    uris = list(dict.fromkeys(uris))
    local = [_local_file_info(local_path(u)) for u in uris if not is_remote(u)]
    remote = [u for u in uris if is_remote(u)]
    found = {info.uri: info for info in local}
    if remote:
        found.update(_remote_infos(remote))
    return [found[u] for u in sorted(found)]


def _remote_infos(uris: list[str]) -> dict[str, FileInfo]:
    """Stat many objects: list their folders when they are few, else ask per object, in parallel.

    A manifest of a million clips usually lives in a few thousand device/day
    folders; one paged listing per folder (1,000 objects a request) is far
    cheaper than a million metadata requests. Both ways run on a thread pool,
    since each request is a network round trip.
    """
    from concurrent.futures import ThreadPoolExecutor

    folders = sorted({u.rsplit("/", 1)[0] + "/" for u in uris})
    wanted = set(uris)
    infos: dict[str, FileInfo] = {}
    with ThreadPoolExecutor(max_workers=LISTING_THREADS) as pool:
        if all(u.startswith("gs://") for u in uris) and len(folders) * 10 <= len(uris):
            from transforms.storage.gcs import list_folder

            for listing in pool.map(list_folder, folders):
                infos.update((info.uri, info) for info in listing if info.uri in wanted)
        else:
            for info in pool.map(_remote_info, [u for u in uris if u not in infos]):
                infos[info.uri] = info
    for uri in wanted - set(infos):  # listed in the manifest but absent: the indexer names it not_found
        infos[uri] = FileInfo(uri, None, None)
    return infos


def _remote_info(uri: str) -> FileInfo:
    if uri.startswith("gs://"):
        from transforms.storage.gcs import object_info

        return object_info(uri)
    try:
        meta = remote_metadata(uri)
    except OSError:
        return FileInfo(uri, None, None)
    return FileInfo(uri, meta.size_in_bytes, meta.last_updated_in_seconds)
