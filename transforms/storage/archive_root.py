"""The archive root: the folder clip ids are relative to, so an archive can move.

A clip's id is the SHA-1 (first 16 hex digits) of its path relative to the
archive root (`GoPro-A/GX010001.MP4`), not of its absolute uri: remounting
the archive at another path, or moving it to another bucket, keeps every id,
and the next night carries every row forward (transforms/launcher/rebase.py
rewrites the stored uris). A uri outside the root keeps its whole uri as the
path its id is made from.

Default root (`index --archive-root` overrides it): the deepest folder that
holds every `--input` pattern, each pattern cut before its first wildcard (a
pattern naming one file counts as its folder); with `--manifest`, the
`--manifest-root`, else the manifest's folder. So `--input footage/GoPro-A
--input 'footage/GoPro-B/*.MP4'` has the root `footage`, and its two
`GX010001.MP4` get different ids.
"""

from __future__ import annotations

import glob
import hashlib
import os
from typing import Optional, Sequence

from transforms.storage.readers import is_remote, local_path


def clip_id_for(uri: str, archive_root: Optional[str] = None) -> str:
    """Stable id of a clip location: the same path below the root always gets the same id."""
    return hashlib.sha1(relative_uri(uri, archive_root).encode("utf-8")).hexdigest()[:16]


def relative_uri(uri: str, archive_root: Optional[str]) -> str:
    """`uri` below `archive_root` ('/' separated); the whole uri when it is not below it."""
    if not archive_root:
        return uri
    prefix = archive_root.rstrip("/") + "/"
    return uri[len(prefix):] if uri.startswith(prefix) else uri


def rebase_uri(uri: str, old_root: Optional[str], new_root: Optional[str]) -> str:
    """Where `uri` (below `old_root`) is below `new_root`; unchanged when it was not below the old root."""
    relative = relative_uri(uri, old_root)
    if not old_root or not new_root or relative == uri:
        return uri
    return new_root.rstrip("/") + "/" + relative


def _pattern_folder(pattern: str) -> str:
    """The part of a pattern before its first wildcard, as a folder."""
    remote = is_remote(pattern)
    path = pattern if remote else os.path.abspath(os.path.expanduser(local_path(pattern)))
    parts = path.split("/")
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    folder = "/".join(fixed) or "/"
    whole = len(fixed) == len(parts)
    if whole and not (remote or os.path.isdir(folder)):
        folder = folder.rsplit("/", 1)[0] or "/"  # one file: its folder
    return folder.rstrip("/") or "/"


def default_archive_root(patterns: Sequence[str]) -> Optional[str]:
    """The deepest folder holding every pattern; None when they share none (local and gs:// mixed)."""
    folders = [_pattern_folder(p) for p in patterns]
    if not folders:
        return None
    split = [f.split("/") for f in folders]
    common = []
    for parts in zip(*split):
        if any(part != parts[0] for part in parts):
            break
        common.append(parts[0])
    root = "/".join(common)
    if is_remote(folders[0]) and root.count("/") < 2:  # "gs:" or "gs://" is no folder
        return None
    return root or "/"


def manifest_archive_root(manifest: str, manifest_root: Optional[str]) -> str:
    """With --manifest: the folder its relative uris are resolved from."""
    if manifest_root:
        return manifest_root.rstrip("/") if is_remote(manifest_root) else \
            os.path.abspath(os.path.expanduser(manifest_root))
    if is_remote(manifest):
        return manifest.rsplit("/", 1)[0]
    return os.path.dirname(os.path.abspath(manifest))


def normalize_root(root: str) -> str:
    """`--archive-root` as stored: absolute, no trailing '/'."""
    if is_remote(root):
        return root.rstrip("/")
    return os.path.abspath(os.path.expanduser(root)).rstrip("/") or "/"
