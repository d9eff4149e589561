"""`clipindex index`: match -> plan -> Beam pipeline -> carry forward -> check -> commit."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import platform
import shutil
import sys
import tempfile
import time

from pipeline import __version__
from pipeline.graph import run_index_pipeline
from pipeline.inputs import matched_inputs
from pipeline.interrupts import INTERRUPTS
from pipeline.options import beam_options, check_beam_args, index_config, options_key, qa_thresholds
from pipeline.progress import ProgressPrinter
from pipeline.unattended import guard_removals, refresh_thresholds
from schemas import SCHEMA_VERSION
from transforms import checkpoint as checkpoints
from transforms import storage
from transforms.dup_apply import apply_matches
from transforms.dup_plan import has_work, kept_relations, matching_key, plan_matching, query_count
from transforms.faults import fail_point
from transforms.incremental import carry_forward, plan_run
from transforms.output_dir import check_index_folder, make_output
from transforms.run_lock import RunLease
from transforms.selection import Selection
from transforms.summarize import summarize_snapshot
from transforms.tables_io import table_files, write_empty_tables
from transforms.snapshot import (
    TABLES,
    THUMBS,
    check_writable,
    commit,
    current_run_id,
    current_snapshot,
    finish_interrupted_commit,
    new_run_id,
    snapshot_dir,
)


def _versions() -> dict:
    import apache_beam
    import av
    import pyarrow

    return {"clipindex": __version__, "schema": SCHEMA_VERSION, "apache_beam": apache_beam.__version__,
            "av": av.__version__, "ffmpeg": av.ffmpeg_version_info, "pyarrow": pyarrow.__version__,
            "python": platform.python_version()}


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"clipindex: {text}", file=sys.stderr, flush=True)


def run_index(args: argparse.Namespace, beam_args: list[str]) -> dict:
    """Run one index pass; returns the committed run summary. Raises on bad input."""
    check_beam_args(beam_args)
    check_writable(args.output)
    check_index_folder(args.output)
    listing_started = time.monotonic()
    selection = matched_inputs(args)
    listing_s = time.monotonic() - listing_started
    files = selection.files
    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.monotonic()
    make_output(args.output)
    _test_failure_hook("before_lock")
    with RunLease(args.output, args.lock_lease_s) as lease, \
            INTERRUPTS.cleanup(lambda: lease.__exit__(None, None, None)):
        finish_interrupted_commit(args.output)  # a run killed mid-commit: complete its steps
        previous = current_snapshot(args.output)
        run_id = new_run_id(started_at)
        snapshot = snapshot_dir(args.output, run_id)
        for table in (*TABLES, THUMBS):
            storage.makedirs(storage.join(snapshot, table))
        progress_dir = tempfile.mkdtemp(prefix="clipindex-progress-")
        committed = False
        storage_read: dict = {}

        def abandon() -> None:  # on an interrupt (pipeline.interrupts): what the finally below does
            shutil.rmtree(progress_dir, ignore_errors=True)
            if not committed:
                storage.delete_tree(snapshot)

        INTERRUPTS.add_cleanup(abandon)
        try:
            config = index_config(args, run_id, progress_dir)
            plan = plan_run(files, previous, options_key(config))
            config, checkpoint, to_read, resumed = _resume(args, config, snapshot, plan)
            _say(args, f"{len(files)} inputs matched; reading {len(plan.to_read)} "
                       f"({len(plan.new)} new, {len(plan.changed)} changed, {len(plan.retried)} "
                       f"failed before{_resumed_clause(resumed, to_read)}), carrying forward "
                       f"{len(plan.carry_clip_ids)} unchanged, {len(plan.removed)} gone{_skipped_clause(selection)}")
            guard_removals(args, plan)
            # Clips resumed from a checkpoint are not read again, but they are new to the archive:
            # their stored samples (linked into the snapshot by _resume) are queries like this run's.
            match = plan_matching(snapshot, previous, plan, config,
                                  table_files(storage.join(snapshot, "samples")) if resumed else ())
            _test_failure_hook("before_pipeline")
            if to_read or has_work(match):
                printer = (contextlib.nullcontext() if args.quiet
                           else ProgressPrinter(progress_dir, len(to_read)))
                with printer:
                    storage_read = run_index_pipeline(to_read, config, snapshot, beam_options(args, beam_args),
                                                      args.runner, checkpoint, match)
            if previous is not None:
                carry_forward(previous, snapshot, plan.carry_clip_ids, run_id)
                refresh_thresholds(previous, snapshot, plan, config, qa_thresholds(config))
            checkpoints.collect_thumbnails(checkpoint, snapshot)
            # The comparing ran on workers; here only its verdicts are written into the clips rows.
            matched = apply_matches(snapshot, match.matches_path if match else None, kept_relations(match, plan))
            matched["query_clips"] = query_count(match, plan)
            _test_failure_hook("after_pipeline")
            write_empty_tables(snapshot, run_id)  # every table readable, even without rows
            run = _summarize(args, files, plan, config, snapshot, previous, started_at, started,
                             selection, resumed)
            run["broke_stale_lock"] = lease.broke_stale_lock
            run["listing_s"] = round(listing_s, 3)
            run["storage"] = storage_read or None  # clips read from a bucket: requests and bytes each
            run["matching_stats"] = matched
            with INTERRUPTS.committing():
                lease.check()  # fencing: commit only while the lock is still this run's
                commit(args.output, run_id, run, args.keep_snapshots)
                committed = True
            checkpoints.discard(checkpoint)  # its rows are in the live snapshot now
        finally:
            INTERRUPTS.remove_cleanup(abandon)
            shutil.rmtree(progress_dir, ignore_errors=True)
            if not committed and current_run_id(args.output) != run_id:
                storage.delete_tree(snapshot)  # never leave half a snapshot behind (nor delete a live one)
    return run


def _resume(args, config, snapshot, plan):
    """The run's checkpoint: clips an interrupted run with these options finished are not read again.

    Returns (config, checkpoint, still to read, clips resumed); with --thumbnails the sheets
    are written into the checkpoint too, where an interruption keeps them.
    """
    checkpoint = checkpoints.checkpoint_for(args.output, options_key(config))
    if args.thumbnails:
        config = dataclasses.replace(config, thumbs_dir=checkpoint.table_dir(THUMBS))
    to_read, resumed = checkpoints.resume(checkpoint, snapshot, plan.to_read, config.run_id)
    INTERRUPTS.set_status(lambda: _interrupted_status(checkpoint, len(plan.to_read)))
    return config, checkpoint, to_read, resumed


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


def _summarize(args, files, plan, config, snapshot, previous, started_at, started, selection, resumed) -> dict:
    run_id = config.run_id
    summary = summarize_snapshot(snapshot, {f.uri for f in files}, run_id, from_checkpoint=resumed)
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
        "previous_run_id": previous.rstrip("/").rsplit("/", 1)[-1] if previous else None,
        "matching": matching_key(config.qa) if config.decode != "none" else None,
        "changes": changes,
        "versions": _versions(),
    }

    return run
