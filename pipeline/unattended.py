"""Flags and launcher steps for unattended (scheduled) runs: lease lock, removal guard, history.

Kept apart from pipeline.index_cmd so that run orchestration only calls them:
the mechanisms live in transforms.storage.lock.lease, transforms.launcher.removal_guard,
transforms.launcher.qa_refresh and transforms.storage.snapshots (docs/locking.md explains them).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Optional

from transforms.launcher.removal_guard import DEFAULT_MAX_REMOVED_FRACTION, check_removals
from transforms.storage.lock.lease import DEFAULT_LEASE_S, MIN_LEASE_S
from transforms.storage.snapshots import KEEP_DAYS

if TYPE_CHECKING:  # the CLI parser imports this module: heavy imports wait until a run needs them
    from schemas import IndexConfig
    from transforms.launcher.incremental import Plan
    from transforms.storage.snapshots import Draft, Snapshot


def _number_within(low: float, high: float, what: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {what}, not {text}")
        return value
    return parse


_lease_s = _number_within(MIN_LEASE_S, float("inf"), f"at least {MIN_LEASE_S:g} s")
_share = _number_within(0.0, 1.0, "between 0 and 1")


_days = _number_within(0.0, float("inf"), "0 or more days")


def add_unattended_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("unattended runs (see docs/locking.md)")
    group.add_argument("--lock-lease-s", type=_lease_s, default=DEFAULT_LEASE_S, metavar="S",
                       help="the run renews DIR/.lock every S/3 s; a lock not renewed for S s is "
                            f"stale and the next run, on any host, breaks it (default: {DEFAULT_LEASE_S:g}, "
                            f"at least {MIN_LEASE_S:g})")
    group.add_argument("--max-removed-fraction", type=_share, default=DEFAULT_MAX_REMOVED_FRACTION,
                       metavar="F",
                       help="stop (exit 1, nothing read or committed) when more than this share of the "
                            "live snapshot's inputs is no longer matched, e.g. an unmounted folder "
                            f"(default: {DEFAULT_MAX_REMOVED_FRACTION:g})")
    group.add_argument("--allow-removals", action="store_true",
                       help="commit even when more inputs vanished than --max-removed-fraction allows")
    group.add_argument("--keep-days", type=_days, default=KEEP_DAYS, metavar="D",
                       help="keep the data files every night of the last D days reads, so `reconcile "
                            "--as-of` and Delta time travel reach back that far; older ones are vacuumed "
                            f"(the Delta logs and runs/*.json are kept forever; default: {KEEP_DAYS:g})")


def guard_removals(args: argparse.Namespace, plan: "Plan") -> None:
    """Stop before reading anything when too much of the live snapshot vanished (TooManyRemoved)."""
    check_removals(plan.removed, plan.live_inputs, args.max_removed_fraction, args.allow_removals)


def refresh_thresholds(previous: Optional["Snapshot"], draft: "Draft", plan: "Plan", config: "IndexConfig",
                       thresholds: dict) -> int:
    """Carried clips under new QA thresholds: their QA seconds recomputed from stored samples."""
    from transforms.launcher.qa_refresh import previous_thresholds, refresh_qa_seconds

    if previous is None or config.decode == "none" or previous_thresholds(previous) == thresholds:
        return 0
    return refresh_qa_seconds(draft, plan.carry_clip_ids, config.qa)
