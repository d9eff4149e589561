"""`clipindex index`: match -> plan -> Beam pipeline -> carry forward -> check -> commit."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from typing import Optional

from pipeline import __version__
from pipeline.graph import run_index_pipeline
from pipeline.inputs import matched_inputs
from pipeline.interrupts import INTERRUPTS
from pipeline.job_endpoint import check_job_endpoint
from pipeline.options import beam_options, check_beam_args, index_config, options_key, qa_thresholds
from pipeline.progress import ProgressPrinter
from pipeline.unattended import guard_removals, refresh_thresholds
from schemas import SCHEMA_VERSION
from transforms.storage import checkpoints
from transforms.storage import fs as storage
from transforms.storage import keep_on_stop
from transforms.neardup.apply import apply_matches
from transforms.neardup.plan import MatchPlan, has_work, kept_relations, matching_key, plan_matching, query_count
from transforms.faults import fail_point
from transforms.launcher.incremental import carry_forward, plan_run
from transforms.launcher.retried_rows import drop_retried_rows
from transforms.launcher.rebase import drop_rebased, rebase_if_moved
from transforms.storage.readers import is_remote
from transforms.storage.output_dir import check_index_folder, make_output
from transforms.storage.lock.lease import RunLease
from transforms.launcher.selection import Selection
from transforms.launcher.run_summary import summarize_snapshot
from transforms.launcher.versions import library_versions, take_worker_versions
from transforms.storage.snapshots import (
    MATCHES,
    TABLES,
    THUMBS,
    Draft,
    Snapshot,
    check_writable,
    commit,
    current_run_id,
    finish_interrupted_commit,
    is_decided,
    live_snapshot,
    new_draft,
    new_run_id,
)


def _versions(workers: Optional[dict]) -> dict:
    """The launcher's versions, and the workers' as one of them reported them (None when no
    pipeline ran: a night that only carried rows forward)."""
    return {"clipindex": __version__, "schema": SCHEMA_VERSION, **library_versions(), "workers": workers}


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"clipindex: {text}", file=sys.stderr, flush=True)


@dataclasses.dataclass
class _Night:
    """One index run as it is planned: what was found, what will be read, where rows go."""

    selection: Selection
    started_at: dt.datetime
    started: float                       # time.monotonic() at start
    run_id: str
    draft: Draft                         # the night's files (not live until the commit)
    previous: Optional[Snapshot]         # the live night this run builds on, if any
    progress_dir: str
    config: Optional[object] = None      # IndexConfig once planned
    plan: Optional[object] = None        # launcher.incremental.Plan
    checkpoint: Optional[checkpoints.Checkpoint] = None
    to_read: list = dataclasses.field(default_factory=list)  # after what the checkpoint kept
    resumed: int = 0                     # clips kept from an interrupted run's checkpoint
    neardup: Optional[MatchPlan] = None  # what the near-duplicate stage compares
    listing_s: float = 0.0               # finding the inputs (a bucket's listing)
    storage_read: dict = dataclasses.field(default_factory=dict)  # clips read from a bucket: requests, bytes
    base: Optional[Snapshot] = None      # what rows are planned and carried from: previous, or it rebased
    rebased: Optional[dict] = None       # the archive moved (or old ids): launcher.rebase


def run_index(args: argparse.Namespace, beam_args: list[str]) -> dict:
    """Run one index pass; returns the committed run summary. Raises on bad input."""
    check_beam_args(beam_args)
    check_job_endpoint(beam_args)
    args = _absolute_output(args)
    check_writable(args.output)
    check_index_folder(args.output)
    listing_started = time.monotonic()
    selection = matched_inputs(args)
    listing_s = time.monotonic() - listing_started
    started_at, started = dt.datetime.now(dt.timezone.utc), time.monotonic()
    make_output(args.output)
    _test_failure_hook("before_lock")
    with RunLease(args.output, args.lock_lease_s) as lease, \
            INTERRUPTS.cleanup(lambda: lease.__exit__(None, None, None)):
        # a run killed mid-commit: roll its night forward; an old layout: migrate it
        finish_interrupted_commit(args.output, lambda text: _say(args, text))
        run_id = new_run_id(started_at)
        previous = live_snapshot(args.output)
        night = _Night(selection, started_at, started, run_id, new_draft(args.output, run_id, previous),
                       previous, tempfile.mkdtemp(prefix="clipindex-progress-"), listing_s=listing_s)
        return _run_locked(args, beam_args, night, lease)


def _run_locked(args: argparse.Namespace, beam_args: list[str], night: _Night, lease: RunLease) -> dict:
    """Plan, read, finish and commit the night; its files are deleted unless committed."""
    keep_requests = keep_on_stop.Requests(night.progress_dir)  # an interrupt has the workers keep open rows
    committed = False

    def abandon() -> None:  # on an interrupt (pipeline.interrupts): what the finally below does
        shutil.rmtree(night.progress_dir, ignore_errors=True)
        if not committed:
            _delete_draft(night.draft)

    INTERRUPTS.add_cleanup(abandon)
    INTERRUPTS.add_saver(keep_requests.keep_everywhere)
    try:
        _plan(args, night, keep_requests.path)
        _read(args, beam_args, night)
        run = _finish(args, night, lease)
        with INTERRUPTS.committing():
            lease.check()  # fencing: commit only while the lock is still this run's
            run = commit(night.draft, run, args.keep_days)
            committed = True
        checkpoints.discard(night.checkpoint)  # its rows are in the live night now
        return run
    finally:
        INTERRUPTS.remove_saver(keep_requests.keep_everywhere)
        INTERRUPTS.remove_cleanup(abandon)
        keep_requests.close()
        shutil.rmtree(night.progress_dir, ignore_errors=True)
        if not committed and current_run_id(args.output) != night.run_id:
            _delete_draft(night.draft)  # never leave half a night behind (nor delete a committed one)


def _delete_draft(draft: Draft) -> None:
    """An uncommitted night's files: its run folders in every table, and its scratch folder.
    Never once its commit is decided (a failure between two table commits): the next run
    rolls that night forward from them."""
    if is_decided(draft.root, draft.run_id):
        return
    for table in (*TABLES, MATCHES):
        storage.delete_tree(draft.folder(table))
    storage.delete_tree(draft.scratch)


def _plan(args: argparse.Namespace, night: _Night, keep_socket: str) -> None:
    """What to read, what the checkpoint already holds, what near-duplicate matching compares."""
    files = night.selection.files
    config = index_config(args, night.run_id, night.progress_dir)
    night.base, night.rebased = rebase_if_moved(night.previous, night.draft, config.archive_root)
    if night.rebased:
        _say(args, f"archive root {night.rebased['from']} -> {night.rebased['to']}: the last run's rows rebased"
                   f"{' (clip ids migrated)' if night.rebased['clip_ids_rewritten'] else ''}, not read again")
    plan = plan_run(files, night.base, options_key(config))
    resumed = _resume(args, config, night.draft, plan, keep_socket)
    night.config, night.checkpoint, night.to_read, night.resumed = resumed
    night.plan = plan
    if plan.key_changes:
        _say(args, f"reading every input again: {plan.full_reason}")
    _say(args, f"{len(files)} inputs matched; reading {len(plan.to_read)} "
               f"({len(plan.new)} new, {len(plan.changed)} changed, {len(plan.retried)} "
               f"failed before{_reread_clause(plan)}{_resumed_clause(night.resumed, night.to_read)}), carrying forward "
               f"{len(plan.carry_clip_ids)} unchanged, {len(plan.removed)} gone{_skipped_clause(night.selection)}")
    guard_removals(args, plan)
    # Clips resumed from a checkpoint are not read again, but they are new to the archive:
    # their stored samples (linked into the night by _resume) are queries like this run's.
    resumed_samples = night.draft.files("samples") if night.resumed else ()
    night.neardup = plan_matching(night.draft, night.base, plan, night.config, resumed_samples)


def _read(args: argparse.Namespace, beam_args: list[str], night: _Night) -> None:
    """The Beam pipeline: read the clips, write their rows, compare footage."""
    _test_failure_hook("before_pipeline")
    if not (night.to_read or has_work(night.neardup)):
        return
    printer = (contextlib.nullcontext() if args.quiet
               else ProgressPrinter(night.progress_dir, len(night.to_read)))
    with printer:
        night.storage_read = run_index_pipeline(night.to_read, night.config, args.output, night.draft.scratch,
                                                beam_options(args, beam_args), args.runner, night.checkpoint,
                                                night.neardup) or {}


def _finish(args: argparse.Namespace, night: _Night, lease: RunLease) -> dict:
    """Carry unchanged rows forward, apply the verdicts, and summarize the night."""
    plan, config, draft = night.plan, night.config, night.draft
    retried = drop_retried_rows(draft)  # a runner's retry made some of this run's files visible twice
    if retried:
        _say(args, f"rows written twice by a retried attempt, one copy kept: {retried}")
    if night.base is not None:
        carry_forward(night.base, draft, plan.carry_clip_ids, night.run_id)
        refresh_thresholds(night.base, draft, plan, config, qa_thresholds(config))
    drop_rebased(draft, plan.carry_clip_ids)
    checkpoints.collect_thumbnails(night.checkpoint, draft)
    # The comparing ran on workers; here only its verdicts are written into the clips rows.
    neardup = night.neardup
    neardup_stats = apply_matches(draft, neardup.matches_path if neardup else None,
                                  kept_relations(neardup, plan), night.run_id)
    reclassified = neardup_stats.pop("reclassified")
    neardup_stats["query_clips"] = query_count(neardup, plan)
    _test_failure_hook("after_pipeline")
    workers = take_worker_versions(draft.scratch)
    run = _summarize(args, night)
    run["versions"] = _versions(workers)
    run["broke_stale_lock"] = lease.broke_stale_lock
    run["listing_s"] = round(night.listing_s, 3)
    run["storage"] = night.storage_read or None  # clips read from a bucket: requests and bytes each
    run["matching_stats"] = neardup_stats
    run["retried_rows_dropped"] = retried
    run["changes"]["reclassified"] = {"count": len(reclassified), "clips": reclassified}
    return run


def _absolute_output(args: argparse.Namespace) -> argparse.Namespace:
    """A local --output as an absolute path: every path the workers get is derived from it.

    SDK workers of a cluster (Flink's EXTERNAL/PROCESS environments, Dataflow) do not run in
    this process's working directory: a relative table folder would be resolved against
    theirs. The caller's `args` keep the path as typed (for the closing line).
    """
    if is_remote(args.output):
        return args
    return argparse.Namespace(**{**vars(args), "output": os.path.abspath(os.path.expanduser(args.output))})


def _resume(args, config, draft, plan, keep_socket):
    """The run's checkpoint: clips an interrupted run with these options finished are not read again.

    Returns (config, checkpoint, still to read, clips resumed); with --thumbnails the sheets
    are written into the checkpoint too, where an interruption keeps them. The writers learn
    where an interrupt asks them for their open files (`keep_socket`, transforms.storage.keep_on_stop).
    """
    checkpoint = dataclasses.replace(checkpoints.checkpoint_for(args.output, options_key(config)),
                                     keep_socket=keep_socket)
    if args.thumbnails:
        config = dataclasses.replace(config, thumbs_dir=checkpoint.table_dir(THUMBS))
    to_read, resumed = checkpoints.resume(checkpoint, draft, plan.to_read, config.run_id)
    INTERRUPTS.set_status(lambda: _interrupted_status(checkpoint, len(plan.to_read)))
    return config, checkpoint, to_read, resumed


def _reread_clause(plan) -> str:
    return f", {len(plan.reread)} unchanged read again" if plan.reread else ""


def _resumed_clause(resumed: int, to_read: list) -> str:
    return f"; {resumed} of them resumed from an interrupted run's checkpoint, {len(to_read)} left" if resumed else ""


def _skipped_clause(selection: Selection) -> str:
    skipped = selection.describe()
    return f"; {skipped}" if skipped else ""


def _interrupted_status(checkpoint: checkpoints.Checkpoint, total: int) -> str:
    kept = checkpoints.kept_clips(checkpoint)  # what the next run resumes, resumed ones included
    return f"after {kept} of {total} clips; nothing committed; the next run resumes them"


def _test_failure_hook(point: str) -> None:
    """Test-only: fail at a named point so tests can check that nothing half-done is committed."""
    fail_point(point)


def _summarize(args: argparse.Namespace, night: _Night) -> dict:
    files, plan, config, previous = night.selection.files, night.plan, night.config, night.previous
    selection, started_at, started = night.selection, night.started_at, night.started
    run_id, draft, resumed = config.run_id, night.draft, night.resumed
    summary = summarize_snapshot(draft, {f.uri for f in files}, run_id, from_checkpoint=resumed,
                                 min_samples=config.qa.dup_min_samples)
    changes = plan.changes()
    failing_now = set(summary.pop("error_uris"))
    retried = set(plan.retried)
    changes["newly_failing"] = sorted(failing_now - retried)
    changes["newly_fixed"] = sorted(retried - failing_now)
    finished_at = dt.datetime.now(dt.timezone.utc)
    wall_s = time.monotonic() - started
    run = {
        "run_id": run_id,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": finished_at.isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 3),
        "options": {**options_key(config), "clip_timeout_s": config.clip_timeout_s,
                    "isolation": config.isolation, "workers": args.workers,
                    "runner": args.runner or "FnApiRunner", "inputs": args.input,
                    "manifest": args.manifest, "exclude": args.exclude, "case_sensitive": args.case_sensitive,
                    "manifest_root": args.manifest_root},
        "options_key": options_key(config),
        "qa_thresholds": qa_thresholds(config),
        **summary,
        **selection.counts(),
        "previous_run_id": previous.run_id if previous else None,
        "matching": matching_key(config.qa) if config.decode != "none" else None,
        "changes": {**changes, "archive_moved": night.rebased},
    }

    return run
