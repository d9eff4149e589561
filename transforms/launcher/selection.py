"""Which matched files are inputs: sidecar files, hidden files and `--exclude`.

A camera export holds more than clips: `.json`/`.vtt`/`.srt` sidecars, `.THM`
thumbnails, GoPro `.LRV` proxies, `Thumbs.db`. A catch-all pattern (`**`) used
to turn each of them into an error row, so a healthy archive never reconciled.
Now a file whose extension is a known non-video one is skipped when the
pattern's last part is a wildcard that does not spell that extension out
(`archive/**`, `*`, `GX*`); a pattern that does (`**/*.json`) or a literal path
still indexes it. Nothing is skipped silently: sidecars (by extension), hidden
files and excluded files are counted in run.json and in the summary line.
"""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Callable, Iterable

from schemas import FileInfo
from transforms.storage.globbing import has_magic, path_regex
from transforms.storage.readers import is_remote, local_path

# Extensions (lower case, without the dot) that are never video. README "Index your
# own footage" lists them; tests/e2e/test_readme.py checks that the list there is this one.
SIDECAR_GROUPS: dict[str, tuple[str, ...]] = {
    "captions, telemetry, metadata, logs": (
        "json", "vtt", "srt", "ass", "ssa", "sub", "sbv", "ttml", "xml", "xmp", "txt", "csv", "tsv",
        "log", "gpx", "kml", "kmz", "nmea"),
    # LRV is a GoPro low-resolution proxy: real video, but a second copy of a clip's footage
    # that would count its hours twice (and, without --decode, unnoticed). THM is its JPEG
    # thumbnail; AAE Apple's edit list; CPI/MPL/BDM AVCHD's playlists; CTG Canon's catalog.
    "camera side files": ("lrv", "thm", "aae", "cpi", "mpl", "bdm", "ctg"),
    "pictures": ("jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "heic", "dng", "webp"),
    "audio without video": ("wav", "mp3", "m4a", "aac", "flac", "wma"),
    "checksums, signatures": ("md5", "sha1", "sha256", "sha512", "sig"),
    "documents, settings, archives": (
        "pdf", "html", "htm", "doc", "docx", "rtf", "ini", "cfg", "db", "lnk", "zip", "7z", "rar", "gz", "tar"),
}
SIDECAR_EXTENSIONS = frozenset(ext for group in SIDECAR_GROUPS.values() for ext in group)


def extension(uri: str) -> str:
    """Lower-case extension without the dot ('' for none, and for names like `.profile`)."""
    stem, dot, ext = uri.rsplit("/", 1)[-1].rpartition(".")
    return ext.lower() if dot and stem else ""


def skipped_sidecar(pattern: str, uri: str) -> str:
    """The sidecar extension that makes `pattern` skip `uri`, or '' when `uri` is an input."""
    ext = extension(uri)
    if ext not in SIDECAR_EXTENSIONS:
        return ""
    last = pattern.rstrip("/").rsplit("/", 1)[-1]
    if not has_magic(last) or last.lower().endswith("." + ext):
        return ""  # named explicitly: a literal path, or a pattern that spells the extension
    return ext


def exclude_matcher(patterns: Iterable[str], case_sensitive: bool = False) -> Callable[[str], bool]:
    """A predicate on uris for `--exclude` patterns (the same wildcards as --input).

    A pattern without `/` matches the file name in any folder (`*.tmp`); one with a `/`
    matches the whole path: absolute, gs://, a leading `**/` (any folder), or else
    relative to the current folder like --input.
    """
    names, paths = [], []
    for pattern in patterns:
        if "/" not in pattern:
            names.append(path_regex(pattern, case_sensitive))
        elif is_remote(pattern) or pattern.startswith(("/", "**")):
            paths.append(path_regex(local_path(pattern), case_sensitive))
        else:
            paths.append(path_regex(os.path.abspath(os.path.expanduser(pattern)), case_sensitive))

    def excluded(uri: str) -> bool:
        name = uri.rsplit("/", 1)[-1]
        return any(r.match(name) for r in names) or any(r.match(local_path(uri)) for r in paths)
    return excluded


@dataclasses.dataclass
class Selection:
    """The inputs, and what was seen but not taken (with the reason)."""

    files: list[FileInfo]
    skipped: dict[str, int] = dataclasses.field(default_factory=dict)  # sidecars, by extension
    hidden: int = 0      # hidden files that would have matched but for their leading `.`
    excluded: int = 0    # matched, then removed by --exclude

    def counts(self) -> dict:
        """The run.json fields."""
        return {"skipped": dict(sorted(self.skipped.items())), "hidden": self.hidden, "excluded": self.excluded}

    def describe(self) -> str:
        return describe_counts(self.counts())


def describe_counts(counts: dict) -> str:
    """'skipped 11 sidecar files (json 5, vtt 5, db 1), 2 hidden, 3 excluded', or '' (run.json fields)."""
    parts = []
    skipped = counts.get("skipped") or {}
    if skipped:
        by_count = sorted(skipped.items(), key=lambda item: (-item[1], item[0]))
        parts.append(f"{sum(skipped.values())} sidecar files (" + ", ".join(f"{ext} {n}" for ext, n in by_count) + ")")
    if counts.get("hidden"):
        parts.append(f"{counts['hidden']} hidden")
    if counts.get("excluded"):
        parts.append(f"{counts['excluded']} excluded")
    return "skipped " + ", ".join(parts) if parts else ""


class Collector:
    """Gathers what each pattern matched or skipped; an input matched by any pattern wins."""

    def __init__(self) -> None:
        self.found: dict[str, FileInfo] = {}
        self._sidecars: dict[str, str] = {}
        self._hidden: set[str] = set()

    def add(self, pattern: str, info: FileInfo) -> None:
        ext = skipped_sidecar(pattern, info.uri)
        if ext:
            self._sidecars[info.uri] = ext
        else:
            self.found.setdefault(info.uri, info)

    def add_hidden(self, uri: str) -> None:
        self._hidden.add(uri)

    def selection(self, excluded: Callable[[str], bool]) -> Selection:
        kept = [self.found[uri] for uri in sorted(self.found) if not excluded(uri)]
        skipped = collections.Counter(ext for uri, ext in self._sidecars.items() if uri not in self.found)
        return Selection(files=kept, skipped=dict(skipped), hidden=len(self._hidden - set(self.found)),
                         excluded=len(self.found) - len(kept))
