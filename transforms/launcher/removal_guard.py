"""The mass-disappearance guard: a run that would drop many clips at once stops first.

One unmounted day-folder or an expired bucket credential makes thousands of
clips "gone" to the matcher; committing that would drop their rows (sha256
ledger included) from the index. When more than `--max-removed-fraction` of
the inputs in the live snapshot are no longer matched, the run stops before
reading anything (exit 1, nothing committed) and names the folders that hold
most of them; `--allow-removals` says the removals are meant.
"""

from __future__ import annotations

import collections

DEFAULT_MAX_REMOVED_FRACTION = 0.05
FOLDERS_NAMED = 3


class TooManyRemoved(Exception):
    """More of the live snapshot vanished than the run may drop without --allow-removals."""


def _folder(uri: str) -> str:
    return uri.rsplit("/", 1)[0] if "/" in uri else "."


def top_folders(uris: list[str], count: int = FOLDERS_NAMED) -> list[tuple[str, int]]:
    """The folders holding most of `uris`, with how many each holds (most first, then by name)."""
    counts = collections.Counter(_folder(uri) for uri in uris)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:count]


def check_removals(removed: list[str], live_inputs: int, max_fraction: float, allowed: bool) -> None:
    """Raise TooManyRemoved when `removed` is more than `max_fraction` of `live_inputs`."""
    if allowed or live_inputs == 0 or len(removed) <= max_fraction * live_inputs:
        return
    folders = ", ".join(f"{folder} ({n})" for folder, n in top_folders(removed))
    raise TooManyRemoved(
        f"{len(removed)} of the {live_inputs} inputs in the live snapshot "
        f"({len(removed) / live_inputs:.0%}) are no longer matched, more than --max-removed-fraction "
        f"{max_fraction:g}; most were in {folders}. Nothing read, nothing committed: check the "
        "mounts or the bucket, or run with --allow-removals if they were removed on purpose")


def removed_by_folder(removed: list[str]) -> dict[str, int]:
    """run.json `changes.removed.by_folder`: every folder that lost inputs, with how many."""
    return dict(top_folders(removed, count=len(removed)))
