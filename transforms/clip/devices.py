"""Which device recorded a clip, read from its path (`--device-from-path REGEX`).

Body cameras and action cameras restart their file numbering per device
(`GX010001.MP4` on every camera), so a file name alone does not say which
clip it is; the folder a device's clips are offloaded into usually does. The
pattern is a Python regular expression searched in the uri (not anchored)
with a named group `device_id`, e.g. `/(?P<device_id>[^/]+)/\\d{4}-\\d{2}-\\d{2}/`.

The same function runs on the workers (`index`: stored in clips.device_id)
and in the launcher (`reconcile`: on the index's uris), so both read a path
the same way.
"""

from __future__ import annotations

import functools
import re
from typing import Iterable, Optional

GROUP = "device_id"


class DevicePatternProblem(ValueError):
    """A --device-from-path pattern that cannot be used (exit 2)."""


@functools.lru_cache(maxsize=8)
def compile_pattern(pattern: str) -> re.Pattern:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise DevicePatternProblem(f"--device-from-path {pattern!r} is not a regular expression: {exc}") from None
    if GROUP not in compiled.groupindex:
        raise DevicePatternProblem(f"--device-from-path {pattern!r} needs a named group (?P<{GROUP}>...)")
    return compiled


def device_from_uri(uri: str, pattern: Optional[str]) -> Optional[str]:
    """The device the pattern finds in the uri, or None (no pattern, no match, empty group)."""
    if not pattern:
        return None
    found = compile_pattern(pattern).search(uri)
    return (found.group(GROUP) or None) if found else None


def devices_from_uris(uris: Iterable[Optional[str]], pattern: str) -> list[Optional[str]]:
    """device_from_uri over the index's uris (tens of thousands: a few ms per 10,000)."""
    search = compile_pattern(pattern).search
    out = []
    for uri in uris:
        found = search(uri) if uri else None
        out.append((found.group(GROUP) or None) if found else None)
    return out
