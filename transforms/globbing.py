"""Local glob patterns with `**`, walked without following directory symlinks.

Python's `glob(recursive=True)` follows symlinks to directories, so one link
back to a parent (`clips/a/up -> ..`) makes it walk forever. Here `**` walks
real folders only (as bash's globstar and `find` do); a symlink is listed like
a file, and if it points to a folder the indexer reports it (`not_a_file`)
instead of walking it, so nothing is silently skipped.

Semantics, as in shells and gsutil: `*` and `?` stay inside one path part,
`**` spans any number of folders including none (`clips/**/*.mp4` includes
`clips/a.mp4`), and names starting with `.` match only parts that start with
`.`. A real folder is a place to walk, not an input: it is listed only when the
pattern's last part names it more specifically than `*` or `**` (a folder named
`x.mp4` matched by `*.mp4` is listed and becomes a `not_a_file` row).
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import Iterator

_MAGIC = re.compile(r"[*?[]")


def has_magic(part: str) -> bool:
    return _MAGIC.search(part) is not None


def _split(pattern: str) -> tuple[str, list[str]]:
    """(folder to walk from, pattern parts below it)."""
    parts = pattern.split(os.sep)
    for index, part in enumerate(parts):
        if has_magic(part):
            return os.sep.join(parts[:index]) or (os.sep if pattern.startswith(os.sep) else "."), \
                [p for p in parts[index:] if p]
    return pattern, []


def _part_matches(part: str, name: str) -> bool:
    if name.startswith(".") and not part.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, part)


def _matches(parts: list[str], names: list[str]) -> bool:
    """Does the relative path `names` match pattern `parts` (with `**`)?"""
    if not parts:
        return not names
    head, rest = parts[0], parts[1:]
    if head == "**":
        # `**` takes zero or more non-hidden folders.
        for taken in range(len(names) + 1):
            if taken and names[taken - 1].startswith("."):
                break
            if _matches(rest, names[taken:]):
                return True
        return False
    return bool(names) and _part_matches(head, names[0]) and _matches(rest, names[1:])


def _max_depth(parts: list[str]) -> float:
    return float("inf") if "**" in parts else len(parts)


def _hidden_allowed(parts: list[str]) -> bool:
    return any(part.startswith(".") for part in parts)


def iter_glob(pattern: str) -> Iterator[str]:
    """Paths matching `pattern` (local, with magic), in walk order."""
    top, parts = _split(pattern)
    if not parts or not os.path.isdir(top):
        return
    lists_folders = parts[-1] not in ("*", "**")
    max_depth = _max_depth(parts)
    # os.walk yields `top` joined with the folders below it: the relative parts are a slice
    # of that string (os.path.relpath per folder was a third of matching 38,200 clips).
    skip = len(top) if top.endswith(os.sep) else len(top) + 1
    for folder, dirnames, filenames in os.walk(top, followlinks=False):
        names = folder[skip:].split(os.sep) if len(folder) > len(top) else []
        prefix = folder if folder.endswith(os.sep) else folder + os.sep
        for name in sorted(dirnames + filenames):
            path = prefix + name
            is_real_folder = name in dirnames and not os.path.islink(path)
            if is_real_folder and not lists_folders:
                continue
            if _matches(parts, names + [name]):
                yield path
        if len(names) + 1 >= max_depth:
            dirnames.clear()  # no deeper match is possible without `**`
        else:
            dirnames[:] = [d for d in dirnames if not d.startswith(".") or _hidden_allowed(parts)]
