"""`clipindex index`: match -> plan -> Beam pipeline -> carry forward -> check -> commit."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import glob
import os
import platform
import shutil
import sys
import tempfile
import time

from pipeline import __version__
from pipeline.graph import run_index_pipeline
from pipeline.options import beam_options, check_beam_args, index_config, options_key
from pipeline.progress import ProgressPrinter
from schemas import SCHEMA_VERSION, FileInfo
from transforms import storage
from transforms.dup_apply import apply_matches
from transforms.dup_plan import has_work, matching_key, plan_matching, query_count, requeried_ids
from transforms.incremental import carry_forward, plan_run
from transforms.manifest import read_manifest
from transforms.match import MatchProblem, infos_for_uris, match_patterns
from transforms.media_io import is_remote, local_path
from transforms.summarize import summarize_snapshot
from transforms.snapshot import (
    TABLES,
    THUMBS,
    RunLock,
    check_writable,
    commit,
    current_snapshot,
    new_run_id,
    snapshot_dir,
)


def _static_prefix(pattern: str) -> str:
    parts = []
    for part in os.path.abspath(os.path.expanduser(local_path(pattern))).split(os.sep):
        if glob.has_magic(part):
            break
        parts.append(part)
    return os.sep.join(parts) or os.sep


def check_output_outside_inputs(output: str, patterns: list[str]) -> None:
    """An index written inside a recursive input would index itself next night."""
    out = os.path.abspath(output)
    for pattern in patterns:
        if is_remote(pattern):
            continue
        prefix = _static_prefix(pattern)
        recursive = "**" in pattern or os.path.isdir(local_path(pattern))
        if recursive and (out == prefix or out.startswith(prefix.rstrip(os.sep) + os.sep)):
            raise MatchProblem(f"output {output} is inside input {pattern}; choose an output folder "
                               "outside the inputs")


def matched_inputs(args: argparse.Namespace) -> list[FileInfo]:
    if bool(args.input) == bool(args.manifest):
        raise MatchProblem("give --input PATTERN (repeatable) or --manifest FILE, not both or neither")
    if args.manifest:
        manifest = read_manifest(args.manifest)
        uris = [u for u in manifest.column("uri").to_pylist() if u]
        if not uris:
            raise MatchProblem(f"manifest {args.manifest} has no `uri` column values; indexing needs "
                               "each clip's uri (clip_id alone is enough only for reconcile)")
        return infos_for_uris(uris)
    check_output_outside_inputs(args.output, args.input)
    files = match_patterns(args.input)
    if not files:
        raise MatchProblem("no input matched " + ", ".join(repr(p) for p in args.input))
    return files


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
    files = matched_inputs(args)
    started_at = dt.datetime.now(dt.timezone.utc)
    started = time.monotonic()
    storage.makedirs(args.output)
    with RunLock(args.output):
        previous = current_snapshot(args.output)
        run_id = new_run_id(started_at)
        snapshot = snapshot_dir(args.output, run_id)
        for table in (*TABLES, THUMBS):
            storage.makedirs(storage.join(snapshot, table))
        progress_dir = tempfile.mkdtemp(prefix="clipindex-progress-")
        committed = False
        try:
            config = index_config(args, run_id, progress_dir, storage.join(snapshot, THUMBS))
            plan = plan_run(files, previous, options_key(config))
            _say(args, f"{len(files)} inputs matched; reading {len(plan.to_read)} "
                       f"({len(plan.new)} new, {len(plan.changed)} changed, {len(plan.retried)} "
                       f"failed before), carrying forward {len(plan.carry_clip_ids)} unchanged, "
                       f"{len(plan.removed)} gone")
            match = plan_matching(snapshot, previous, plan, config)
            _test_failure_hook("before_pipeline")
            if plan.to_read or has_work(match):
                printer = (contextlib.nullcontext() if args.quiet
                           else ProgressPrinter(progress_dir, len(plan.to_read)))
                with printer:
                    run_index_pipeline(plan.to_read, config, snapshot, beam_options(args, beam_args),
                                       args.runner, match)
            if previous is not None:
                carry_forward(previous, snapshot, plan.carry_clip_ids, run_id)
            # The comparing ran on workers; here only its verdicts are written into the clips rows.
            matched = apply_matches(snapshot, run_id, match.matches_path if match else None, requeried_ids(match))
            matched["query_clips"] = query_count(match, plan)
            _test_failure_hook("after_pipeline")
            run = _summarize(args, files, plan, config, snapshot, previous, started_at, started)
            run["matching_stats"] = matched
            commit(args.output, run_id, run)
            committed = True
        finally:
            shutil.rmtree(progress_dir, ignore_errors=True)
            if not committed:
                storage.delete_tree(snapshot)  # never leave half a snapshot behind
    return run


def _test_failure_hook(point: str) -> None:
    """Test-only: fail at a named point so tests can check that nothing half-done is committed."""
    if os.environ.get("CLIPINDEX_TEST_FAIL_AT") == point:
        raise RuntimeError(f"test failure injected at {point}")


def _summarize(args, files, plan, config, snapshot, previous, started_at, started) -> dict:
    run_id = config.run_id
    summary = summarize_snapshot(snapshot, {f.uri for f in files}, run_id)
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
                    "manifest": args.manifest},
        "options_key": options_key(config),
        **summary,
        "previous_run_id": previous.rstrip("/").rsplit("/", 1)[-1] if previous else None,
        "matching": matching_key(config.qa) if config.decode != "none" else None,
        "changes": changes,
        "versions": _versions(),
    }

    return run
