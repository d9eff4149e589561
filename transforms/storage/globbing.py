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

Matching is case-insensitive unless asked otherwise (cameras write `.MP4`,
people type `*.mp4`); the folder before the first wildcard is a path and is
taken as written. Hidden files that would match but for their leading `.`
(`._GX010001.MP4`, macOS AppleDouble) are reported to `on_hidden`, so the
launcher can count them instead of skipping them silently.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from typing import Callable, Iterator, Optional

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


@functools.lru_cache(maxsize=256)
def _compiled(part: str, case_sensitive: bool) -> re.Pattern:
    return re.compile(fnmatch.translate(part), 0 if case_sensitive else re.IGNORECASE)


def _part_matches(part: str, name: str, case_sensitive: bool = False, hidden_ok: bool = False) -> bool:
    if name.startswith(".") and not part.startswith(".") and not hidden_ok:
        return False
    return _compiled(part, case_sensitive).match(name) is not None


def _matches(parts: list[str], names: list[str], case_sensitive: bool = False, hidden_last: bool = False) -> bool:
    """Does the relative path `names` match pattern `parts` (with `**`)?

    `hidden_last`: let the last name start with `.` (to tell hidden files that would
    otherwise match from files that do not match at all).
    """
    if not parts:
        return not names
    head, rest = parts[0], parts[1:]
    if head == "**":
        # `**` takes zero or more non-hidden folders.
        for taken in range(len(names) + 1):
            if taken and names[taken - 1].startswith(".") and not (hidden_last and taken == len(names)):
                break
            if _matches(rest, names[taken:], case_sensitive, hidden_last):
                return True
        return False
    return (bool(names) and _part_matches(head, names[0], case_sensitive, hidden_last and len(names) == 1)
            and _matches(rest, names[1:], case_sensitive, hidden_last))


def _max_depth(parts: list[str]) -> float:
    return float("inf") if "**" in parts else len(parts)


def _hidden_allowed(parts: list[str]) -> bool:
    return any(part.startswith(".") for part in parts)


def iter_glob(pattern: str, case_sensitive: bool = False,
              on_hidden: Optional[Callable[[str], None]] = None) -> Iterator[str]:
    """Paths matching `pattern` (local, with magic), in walk order.

    `on_hidden` is called with each hidden file that would match but for its leading `.`.
    """
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
            if _matches(parts, names + [name], case_sensitive):
                yield path
            elif (on_hidden is not None and name.startswith(".") and not is_real_folder
                  and _matches(parts, names + [name], case_sensitive, hidden_last=True)):
                on_hidden(path)
        if len(names) + 1 >= max_depth:
            dirnames.clear()  # no deeper match is possible without `**`
        else:
            dirnames[:] = [d for d in dirnames if not d.startswith(".") or _hidden_allowed(parts)]


def path_regex(pattern: str, case_sensitive: bool = False) -> re.Pattern:
    """A whole-path regex for a glob (gs:// object names, --exclude patterns).

    `*`, `?` and `[...]` stay inside one path part; `**` spans parts, and `a/**/b` and a
    leading `**/` also match zero folders, as in the local walk.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("/**/", i):
            out.append("/(?:.*/)?")
            i += 4
        elif i == 0 and pattern.startswith("**/"):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := _bracket_end(pattern, i)) > 0:
            body = pattern[i + 1:end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", 0 if case_sensitive else re.IGNORECASE)


def _bracket_end(pattern: str, start: int) -> int:
    """Index of the `]` closing the bracket expression at `start`, or -1 (then `[` is literal)."""
    j = start + 1
    if j < len(pattern) and pattern[j] == "!":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    return pattern.find("]", j)
