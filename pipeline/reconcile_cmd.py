"""`clipindex reconcile DIR`: totals and discrepancies, printed and written."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional

from transforms.manifest.read import NAIVE_TIMES, ManifestProblem, read_manifest
from transforms.manifest.columns import FIELDS, parse_mapping
from transforms.manifest.times import get_zone
from transforms.reconcile.compare import BASES, Expectations, Reconciliation, reconcile
from transforms.reconcile.totals import DEFAULT_HOURS_TOLERANCE, parse_hours_tolerance
from transforms.storage import fs as storage
from transforms.storage.snapshots import OutputProblem, live_snapshot, replace_table, snapshot_as_of
from transforms.reconcile.copies import duplicates_sentence, insufficient_sentence

EXIT_OK, EXIT_DISCREPANCIES, EXIT_USAGE = 0, 1, 2
MAX_PRINTED = 50
HISTORY_RUNS = 30


def _zone(text: str):
    try:
        return get_zone(text)
    except ValueError as problem:
        raise argparse.ArgumentTypeError(str(problem)) from None


def _hours_tolerance(text: str) -> str:
    try:
        parse_hours_tolerance(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected hours (0.01) or a percentage (0.05%), not {text!r}") from None
    return text


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {text}")
    return value


def add_reconcile_arguments(rec: argparse.ArgumentParser) -> None:
    from pipeline.options import device_pattern

    rec.add_argument("index_dir", metavar="DIR")
    rec.add_argument("--expect-videos", type=int, metavar="N", help="expected number of clips")
    rec.add_argument("--expect-hours", type=float, metavar="H", help="expected hours of video")
    rec.add_argument("--manifest", metavar="FILE", help="expected clips (CSV or Parquet), e.g. an "
                                                        "evidence system's export")
    rec.add_argument("--manifest-root", metavar="DIR",
                     help="resolve the manifest's relative uris from DIR (default: its own folder)")
    rec.add_argument("--columns", metavar="MAP", help="which manifest column holds each field: "
                     "'clip_id=Evidence ID,uri=File Name,...', or @FILE (.json or .toml) holding the same; "
                     f"fields: {', '.join(FIELDS)}")
    rec.add_argument("--manifest-tz", type=_zone, metavar="ZONE",
                     help="time zone of manifest times written without an offset (default: UTC, with a "
                          "warning)")
    rec.add_argument("--time-tolerance-s", type=_non_negative, default=2.0, metavar="S",
                     help="a clip's recorded_at within this of the manifest's time (plus the unit that "
                          "time was given to) can match it; a matched clip further off is a time_mismatch "
                          "(default: 2)")
    rec.add_argument("--device-from-path", type=device_pattern, metavar="REGEX",
                     help="read each indexed clip's device from its uri (named group device_id); "
                          "default: what `index --device-from-path` stored")
    rec.add_argument("--tolerance-s", type=_non_negative, default=0.5, metavar="S",
                     help="per-clip duration tolerance in seconds, widened by the unit the manifest's "
                          "duration was given to (default: 0.5)")
    rec.add_argument("--basis", choices=BASES, default="video",
                     help="the duration compared: video (the measured timeline, duration_s) or container "
                          "(the header's, container_duration_s, what evidence systems usually show) "
                          "(default: video)")
    rec.add_argument("--hours-tolerance", type=_hours_tolerance, default=DEFAULT_HOURS_TOLERANCE,
                     metavar="H|P%", help="totals tolerance: hours, or a percentage of the expected hours "
                     f"(default: {DEFAULT_HOURS_TOLERANCE.replace('%', '%%')}; see docs/reconcile.md)")
    rec.add_argument("--tz", type=_zone, metavar="ZONE", help="time zone of the per-day totals (default: UTC)")
    rec.add_argument("--as-of", metavar="WHEN",
                     help="reconcile the index as it was: a date (its end, UTC), a timestamp or a run id; "
                          "the live reconcile/discrepancies table is left as it is (docs/tables.md)")
    rec.add_argument("--json", metavar="FILE", help="write the whole result as JSON")
    rec.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")


def _print(result: Reconciliation, index_dir: str) -> None:
    run, totals = result.run, result.totals
    print(f"index {index_dir}: run {run['run_id']} finished {run['finished_at']}")
    print(f"  videos   {totals['videos']:>10}")
    print(f"  hours    {totals['hours']:>14.3f}")
    print(f"  bytes    {totals['bytes']:>10}")
    print(f"  frames   {totals['frames']:>10}")
    print(f"  errors   {totals['errors']:>10}   duplicates {totals['duplicates']}   excerpts "
          f"{totals['excerpts']}   truncated {totals['truncated']}")
    if totals["duplicates"] or totals["excerpts"]:
        print("  " + duplicates_sentence(totals["duplicates"], totals["duplicate_hours"], False,
                                         totals["excerpts"], totals["excerpt_hours"]))
    for check in result.checks:
        indexed, expected = check["indexed"], check["expected"]
        if isinstance(expected, float):
            text = f"{indexed:.3f} vs expected {expected:.3f} (±{check['tolerance']:.4g}: {check['tolerance_detail']})"
        else:
            text = f"{indexed} vs expected {expected}"
        print(f"  check {check['name']:<16} {text}  {'ok' if check['ok'] else 'MISMATCH'}")
    changes = run.get("changes") or {}
    if changes:
        print("  since last run: " + ", ".join(
            f"{name} {changes[name]['count'] if isinstance(changes[name], dict) else len(changes[name])}"
            for name in ("new", "changed", "removed", "newly_failing", "newly_fixed") if name in changes))
    qa = result.qa or {}
    if qa.get("sampled_clips"):
        print(f"  picture  {qa['sampled_clips']} of {qa['clips']} clips checked, {qa['sampled_frames']} pictures "
              f"sampled (--decode {qa['decode']}); {len(result.qa_top)} with dark, frozen or blurry picture")
    if qa.get("count"):
        print("  picture  " + insufficient_sentence(qa))
    for line in result.identity["text"]:
        print(f"  count    {line}")
    count = result.discrepancies.num_rows
    print(f"  discrepancies: {count}")
    for item in result.discrepancies.slice(0, MAX_PRINTED).to_pylist():
        print(f"    {item['kind']:<17} {item['uri'] or item['clip_id'] or item['evidence_id']}{_ids(item)}  "
              f"{item['detail']}")
    if count > MAX_PRINTED:
        print(f"    ... {count - MAX_PRINTED} more in the reconcile/discrepancies table")
    print("RECONCILED" if result.reconciled else "NOT RECONCILED")


def _ids(item: dict) -> str:
    """The ids a records clerk looks a row up by: ` [device DEV02, evidence E-1, manifest row 6]`."""
    parts = [f"{label} {item[key]}" for label, key in (("device", "device_id"), ("evidence", "evidence_id"),
                                                        ("manifest row", "manifest_row"), ("officer", "officer_id"))
             if item.get(key) is not None]
    return f" [{', '.join(parts)}]" if parts else ""


def run_history(index_dir: str, limit: int = HISTORY_RUNS, until: Optional[str] = None) -> list[dict]:
    """The last committed runs, oldest first (DIR/runs/<run_id>.json); with `until` (a run id),
    the last ones up to that run (run ids sort by their start time)."""
    history = []
    paths = storage.list_files(storage.join(index_dir, "runs"), ".json")
    if until is not None:
        paths = [path for path in paths if path.rsplit("/", 1)[-1][: -len(".json")] <= until]
    for path in paths[-limit:]:
        run = json.loads(storage.read_text(path))
        history.append({key: run.get(key) for key in (
            "run_id", "finished_at", "matched", "indexed", "errors", "total_hours", "total_bytes",
            "reindexed", "carried_forward", "changes")})
    return history


def _unwritable(path: Optional[str]) -> Optional[str]:
    """Why a report file cannot be written (None: it can, or none was asked for)."""
    if not path:
        return None
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return "is a folder"
    if not os.path.isdir(folder):
        return f"folder {folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"folder {folder} is not writable"
    return None


def _warn_naive_times(manifest, zone) -> None:
    """Times without an offset are read as UTC when no --manifest-tz is given: say so, since a
    local export then looks hours off (time_mismatch) and the per-day totals shift."""
    naive = int(((manifest.schema.metadata or {}) if manifest is not None else {}).get(NAIVE_TIMES, b"0"))
    if naive and zone is None:
        print(f"clipindex: warning: {naive} manifest time{'s' if naive > 1 else ''} without a zone offset "
              "read as UTC; give --manifest-tz ZONE (e.g. America/Chicago) if the export writes local times",
              file=sys.stderr)


def _snapshot(args: argparse.Namespace):
    """The night to reconcile: the live one, or the one `--as-of` names; None (said why) if none."""
    try:
        if getattr(args, "as_of", None):
            return snapshot_as_of(args.index_dir, args.as_of)
        snapshot = live_snapshot(args.index_dir)
    except (OutputProblem, ValueError) as problem:
        print(f"clipindex: error: {problem}", file=sys.stderr)
        return None
    if snapshot is None:
        print(f"clipindex: error: {args.index_dir} holds no committed index run", file=sys.stderr)
    return snapshot


def run_reconcile(args: argparse.Namespace) -> int:
    snapshot = _snapshot(args)
    if snapshot is None:
        return EXIT_USAGE
    for flag, path in (("--json", args.json), ("--html", args.html)):
        problem = _unwritable(path)
        if problem:  # said before the work, not after it
            print(f"clipindex: error: {flag} {path}: {problem}", file=sys.stderr)
            return EXIT_USAGE
    try:
        mapping = parse_mapping(args.columns)
        if mapping and not args.manifest:
            raise ManifestProblem("--columns maps the columns of a --manifest; give one")
        manifest = read_manifest(args.manifest, require_duration=True, mapping=mapping, zone=args.manifest_tz,
                                 resolve_names=False, root=args.manifest_root) if args.manifest else None
    except ManifestProblem as problem:
        print(f"clipindex: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    _warn_naive_times(manifest, args.manifest_tz)
    expectations = Expectations(videos=args.expect_videos, hours=args.expect_hours, manifest=manifest,
                                tolerance_s=args.tolerance_s, hours_tolerance=args.hours_tolerance,
                                time_tolerance_s=args.time_tolerance_s, basis=args.basis, tz=args.tz,
                                device_from_path=args.device_from_path, as_of=getattr(args, "as_of", None))
    result = reconcile(snapshot, expectations)
    if getattr(args, "as_of", None):  # a look back: the live discrepancies stay the live night's
        print(f"as of {args.as_of}: run {snapshot.run_id}", file=sys.stderr)
    else:
        replace_table(storage.join(args.index_dir, "reconcile", "discrepancies"), result.discrepancy_table(),
                      "clipindex reconcile: discrepancies of the last reconcile", "clipindex-reconcile")
    history = run_history(args.index_dir, until=snapshot.run_id if getattr(args, "as_of", None) else None)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({**result.to_json(), "history": history}, handle, indent=2, default=str)
    if args.html:
        from transforms.reconcile.report.html import render_html

        with open(args.html, "w", encoding="utf-8") as handle:
            handle.write(render_html(result, history, args.index_dir))
    _print(result, args.index_dir)
    return EXIT_OK if result.reconciled else EXIT_DISCREPANCIES
