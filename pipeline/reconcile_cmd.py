"""`clipindex reconcile DIR`: totals and discrepancies, printed and written."""

from __future__ import annotations

import argparse
import json
import sys

from transforms.manifest import ManifestProblem, read_manifest
from transforms.reconcile import Expectations, Reconciliation, reconcile
from transforms import storage
from transforms.snapshot import current_snapshot
from transforms.summarize import duplicates_sentence
from transforms.tables_io import write_table

EXIT_OK, EXIT_DISCREPANCIES, EXIT_USAGE = 0, 1, 2
MAX_PRINTED = 50
HISTORY_RUNS = 30


def _print(result: Reconciliation, index_dir: str) -> None:
    run, totals = result.run, result.totals
    print(f"index {index_dir}: run {run['run_id']} finished {run['finished_at']}")
    print(f"  videos   {totals['videos']:>10}")
    print(f"  hours    {totals['hours']:>14.3f}")
    print(f"  bytes    {totals['bytes']:>10}")
    print(f"  frames   {totals['frames']:>10}")
    print(f"  errors   {totals['errors']:>10}   duplicates {totals['duplicates']}   truncated {totals['truncated']}")
    if totals["duplicates"]:
        print("  " + duplicates_sentence(totals["duplicates"], totals["duplicate_hours"], included=False))
    for check in result.checks:
        indexed, expected = check["indexed"], check["expected"]
        if isinstance(expected, float):
            text = f"{indexed:.3f} vs expected {expected:.3f} (±{check['tolerance']})"
        else:
            text = f"{indexed} vs expected {expected}"
        print(f"  check {check['name']:<16} {text}  {'ok' if check['ok'] else 'MISMATCH'}")
    changes = run.get("changes") or {}
    if changes:
        print("  since last run: " + ", ".join(
            f"{name} {changes[name]['count'] if isinstance(changes[name], dict) else len(changes[name])}"
            for name in ("new", "changed", "removed", "newly_failing", "newly_fixed") if name in changes))
    print(f"  discrepancies: {len(result.discrepancies)}")
    for item in result.discrepancies[:MAX_PRINTED]:
        print(f"    {item.kind:<17} {item.uri or item.clip_id}  {item.detail}")
    if len(result.discrepancies) > MAX_PRINTED:
        print(f"    ... {len(result.discrepancies) - MAX_PRINTED} more in reconcile/discrepancies.parquet")
    print("RECONCILED" if result.reconciled else "NOT RECONCILED")


def run_history(index_dir: str, limit: int = HISTORY_RUNS) -> list[dict]:
    """The last committed runs, oldest first (DIR/runs/<run_id>.json)."""
    history = []
    for path in storage.list_files(storage.join(index_dir, "runs"), ".json")[-limit:]:
        run = json.loads(storage.read_text(path))
        history.append({key: run.get(key) for key in (
            "run_id", "finished_at", "matched", "indexed", "errors", "total_hours", "total_bytes",
            "reindexed", "carried_forward", "changes")})
    return history


def run_reconcile(args: argparse.Namespace) -> int:
    snapshot = current_snapshot(args.index_dir)
    if snapshot is None:
        print(f"clipindex: error: {args.index_dir} holds no committed index run", file=sys.stderr)
        return EXIT_USAGE
    try:
        manifest = (read_manifest(args.manifest, require_duration=True, root=args.manifest_root)
                    if args.manifest else None)
    except ManifestProblem as problem:
        print(f"clipindex: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    expectations = Expectations(videos=args.expect_videos, hours=args.expect_hours, manifest=manifest,
                                tolerance_s=args.tolerance_s, hours_tolerance=args.hours_tolerance)
    result = reconcile(snapshot, expectations)
    out_dir = storage.join(args.index_dir, "reconcile")
    storage.makedirs(out_dir)
    write_table(result.discrepancy_table(), storage.join(out_dir, "discrepancies.parquet"))
    history = run_history(args.index_dir)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({**result.to_json(), "history": history}, handle, indent=2, default=str)
    if args.html:
        from transforms.report import render_html

        with open(args.html, "w", encoding="utf-8") as handle:
            handle.write(render_html(result, history, args.index_dir))
    _print(result, args.index_dir)
    return EXIT_OK if result.reconciled else EXIT_DISCREPANCIES
