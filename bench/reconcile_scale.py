"""Reconcile at archive scale: evidence-system exports of 38,200 and 1,000,000 rows
against a Boston-sized index (38,200 clips), through the CLI as a user runs it.

    python -m bench.reconcile_scale [--clips 38200] [--rows 38200,1000000] [--repeat 1]
    ./bench/run.sh reconcile           # the same (run it under `flock /work/bench.lock`)

The index is a synthetic clips table in the index layout (bench/corpus/synthetic_index.py:
reconcile reads only the tables); the exports look like an evidence system's (evidence
IDs, file names that repeat on every camera, `Device Serial`, local US-style `Recorded
On`, whole-second `Duration`, `47.8 MB` sizes), read through `--columns`. The first
38,200 rows of each export are the indexed clips; the rest are clips of other years,
so the 1,000,000-row export has 961,800 `missing` rows to write.

Measured per run: wall time and the peak RSS of the process (bench/lib/measure.py), and,
in this process afterwards, the split between reading the export and reconciling.
Baseline in the same run: `reconcile --expect-videos` on the same index (start-up and
reading the index, no manifest). Results: bench/results/reconcile-scale-<stamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time

import pyarrow as pa

from bench.lib.measure import load_average, machine, run_measured
from bench.corpus.synthetic_index import columns_flag, export_table, synthetic_clips, write_export, write_index
from bench.lib.harness import REPO, RESULTS_DIR, WORK_DIR, env

DEVICES = r"/(?P<device_id>DEV\d+)/"
ZONE = "America/Chicago"


def _export(path: str, clips: pa.Table, rows: int) -> None:
    """The export of the indexed clips, then of `rows - clips` clips of earlier years (missing)."""
    if os.path.exists(path):
        return
    parts = [export_table(clips.slice(0, rows))]
    if rows > clips.num_rows:
        other = synthetic_clips(rows - clips.num_rows, seed=1, root="/elsewhere",
                                start=dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc))
        parts.append(export_table(other, first_id=clips.num_rows + 1))
    write_export(path + ".tmp", pa.concat_tables(parts))
    os.replace(path + ".tmp", path)


def _measure(name: str, argv: list[str], repeat: int) -> dict:
    best = None
    for _ in range(repeat):
        run = run_measured([sys.executable, "-m", "pipeline", "reconcile", *argv], env=env(), cwd=REPO)
        if run.returncode not in (0, 1):
            raise SystemExit(f"{name}: reconcile failed: {run.stderr.strip()[-2000:]}")
        if best is None or run.wall_s < best.wall_s:
            best = run
    row = {"name": name, "wall_s": round(best.wall_s, 2), "peak_rss_bytes": best.peak_rss_bytes,
           "cpu_s": round(best.cpu_s, 2), "exit": best.returncode,
           "summary": [line for line in best.stdout.splitlines() if line.startswith("  count")],
           "load_average": load_average()}
    print(f"{name:<34} {row['wall_s']:7.2f} s  peak RSS {best.peak_rss_bytes / 2**20:6.0f} MiB  "
          f"exit {best.returncode}  load {row['load_average'][0]}", file=sys.stderr, flush=True)
    return row


def _phases(index: str, export: str) -> dict:
    """Where the time goes, in this process: reading the export vs reconciling."""
    from transforms.manifest.read import read_manifest
    from transforms.manifest.columns import parse_mapping
    from transforms.manifest.times import get_zone
    from transforms.reconcile.compare import Expectations, reconcile
    from transforms.storage.snapshots import live_snapshot

    started = time.perf_counter()
    manifest = read_manifest(export, require_duration=True, mapping=parse_mapping(columns_flag()),
                             zone=get_zone(ZONE), resolve_names=False)
    read_s = time.perf_counter() - started
    result = reconcile(live_snapshot(index), Expectations(manifest=manifest))
    return {"read_export_s": round(read_s, 2), "reconcile_s": round(time.perf_counter() - started - read_s, 2),
            "discrepancies": result.discrepancies.num_rows, "identity": result.identity["text"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=38_200)
    parser.add_argument("--rows", default="38200,1000000", help="export sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender; the best counts")
    parser.add_argument("--work", default=os.path.join(WORK_DIR, "reconcile"))
    parser.add_argument("--results", default=RESULTS_DIR)
    args = parser.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    index = os.path.join(args.work, f"index-{args.clips}")
    clips = synthetic_clips(args.clips, store_device=True)
    shutil.rmtree(index, ignore_errors=True)
    write_index(index, clips, options_key={"device_from_path": DEVICES})
    runs = [_measure("baseline: --expect-videos only", [index, "--expect-videos", str(args.clips)], args.repeat)]
    for rows in [int(r) for r in args.rows.split(",")]:
        export = os.path.join(args.work, f"export-{args.clips}-{rows}.csv")
        _export(export, clips, rows)
        flags = [index, "--manifest", export, "--columns", columns_flag(), "--manifest-tz", ZONE]
        row = _measure(f"export of {rows:,} rows", flags, args.repeat)
        row.update(rows=rows, export_bytes=os.path.getsize(export), **_phases(index, export))
        runs.append(row)
        out = os.path.join(args.work, "r")
        runs.append({**_measure(f"  + --json and --html ({rows:,} rows)",
                                [*flags, "--json", out + ".json", "--html", out + ".html"], args.repeat),
                     "rows": rows})
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, f"reconcile-scale-{stamp}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"clips": args.clips, "machine": machine(), "runs": runs}, handle, indent=2)
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
