"""Scale runs: the Boston-sized corpus, a 1/100 slice of it at 30 fps, and a scaling series.

    python -m bench.scale boston    # 38,200 clips, 4,600 h at 1 fps (64x48): index + reconcile
    python -m bench.scale slice     # 382 clips, 46 h at 30 fps (160x120)
    python -m bench.scale series    # 1k, 4k, 16k clips drawn from the Boston corpus
                                    # (same clip-length distribution), per-clip time and RSS

Options: --tier (default auto), --hash (default sha256), --workers (2),
--sizes 1000,4000,16000, --delete-corpus. `index` and `reconcile` run through
the CLI exactly as a user runs them; their wall time and the peak summed RSS
of their process trees are measured (bench/lib/measure.py). The series indexes
the first N rows of the Boston manifest with `--manifest`, so it needs no
corpus of its own; its expected hours are that manifest slice's sum.
Results: bench/results/scale-<what>-<stamp>.json.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import sys

from bench.lib.measure import load_average, machine, run_measured
from bench.lib.harness import REPO, RESULTS_DIR, WORK_DIR, ensure_corpus, env

BOSTON = {"clips": 38200, "hours": 4600.0, "fps": 1, "size": "64x48"}
SLICE = {"clips": 382, "hours": 46.0, "fps": 30, "size": "160x120"}
TARGET_WALL_S = 600.0
TARGET_RSS_BYTES = 2 * 2**30


def _manifest_rows(corpus: str) -> list[dict]:
    with open(os.path.join(corpus, "manifest.csv"), newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def index_and_reconcile(name: str, out_dir: str, source: list[str], expect_videos: int,
                        expect_hours: float, args) -> dict:
    """One measured `clipindex index` + `clipindex reconcile`; raises SystemExit on failure."""
    shutil.rmtree(out_dir, ignore_errors=True)
    index = run_measured([sys.executable, "-m", "pipeline", "index", *source, "--output", out_dir,
                          "--tier", args.tier, "--hash", args.hash, "--workers", str(args.workers),
                          "--quiet"], env=env(), cwd=REPO)
    if index.returncode != 0:
        raise SystemExit(f"{name}: index failed: {index.stderr.strip()[-3000:]}")
    report = out_dir + "-reconcile.json"
    recon = run_measured([sys.executable, "-m", "pipeline", "reconcile", out_dir,
                          "--expect-videos", str(expect_videos), "--expect-hours", repr(expect_hours),
                          "--json", report], env=env(), cwd=REPO)
    with open(report, encoding="utf-8") as handle:
        totals = json.load(handle)["totals"]
    with open(os.path.join(out_dir, "run.json"), encoding="utf-8") as handle:
        run = json.load(handle)
    row = {
        "name": name,
        "clips": expect_videos,
        "expected_hours": expect_hours,
        "indexed_videos": totals["videos"],
        "indexed_hours": round(totals["hours"], 6),
        "frames": totals["frames"],
        "errors": totals["errors"],
        "reconciled": recon.returncode == 0,
        "index_wall_s": round(index.wall_s, 2),
        "index_run_wall_s": run["wall_s"],
        "reconcile_wall_s": round(recon.wall_s, 2),
        "total_wall_s": round(index.wall_s + recon.wall_s, 2),
        "ms_per_clip": round(index.wall_s / expect_videos * 1000, 3),
        "clips_per_s": round(expect_videos / index.wall_s, 1),
        "hours_per_s": round(totals["hours"] / index.wall_s, 3),
        "index_peak_rss_bytes": index.peak_rss_bytes,
        "index_peak_pss_bytes": index.peak_pss_bytes,
        "reconcile_peak_rss_bytes": recon.peak_rss_bytes,
        "index_cpu_s": round(index.cpu_s, 1),
        "load_average": load_average(),
    }
    print(f"{name:<14} index {row['index_wall_s']:7.1f} s ({row['clips_per_s']:6.1f} clips/s, "
          f"{row['ms_per_clip']:.2f} ms/clip) reconcile {row['reconcile_wall_s']:5.1f} s  "
          f"{row['indexed_videos']} videos {row['indexed_hours']:.3f} h  "
          f"peak RSS {index.peak_rss_bytes / 2**20:.0f} MiB  "
          f"{'RECONCILED' if row['reconciled'] else 'NOT RECONCILED'}  load {row['load_average'][0]}",
          file=sys.stderr, flush=True)
    if not row["reconciled"]:
        print(recon.stdout[-3000:], file=sys.stderr)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.remove(report)
    return row


def run_corpus(what: str, params: dict, args) -> dict:
    corpus = os.path.join(WORK_DIR, what)
    ensure_corpus(corpus, params["clips"], params["hours"], params["fps"], params["size"])
    row = index_and_reconcile(what, os.path.join(WORK_DIR, f"index-{what}"),
                              ["--input", os.path.join(corpus, "clips", "**", "*.mp4")],
                              params["clips"], params["hours"], args)
    result = {"corpus": params, "runs": [row]}
    if what == "boston":
        result["targets"] = {
            "total_wall_under_600_s": row["total_wall_s"] < TARGET_WALL_S,
            "peak_rss_under_2_gib": max(row["index_peak_rss_bytes"], row["reconcile_peak_rss_bytes"])
            < TARGET_RSS_BYTES,
            "exact_totals": row["indexed_videos"] == params["clips"] and row["reconciled"],
        }
    if args.delete_corpus:
        shutil.rmtree(corpus, ignore_errors=True)
    return result


def run_series(args) -> dict:
    corpus = os.path.join(WORK_DIR, "boston")
    ensure_corpus(corpus, **BOSTON)
    rows = _manifest_rows(corpus)
    runs = []
    for size in [int(s) for s in args.sizes.split(",")]:
        part = rows[:size]
        manifest = os.path.join(WORK_DIR, f"series-{size}.csv")
        with open(manifest, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(part[0]))
            writer.writeheader()
            writer.writerows(part)
        hours = sum(float(r["expected_duration_s"]) for r in part) / 3600
        runs.append(index_and_reconcile(f"series-{size}", os.path.join(WORK_DIR, f"index-series-{size}"),
                                        ["--manifest", manifest], size, hours, args))
        os.remove(manifest)
    first, last = runs[0], runs[-1]
    # Marginal cost: the slope between the smallest and largest run removes start-up.
    marginal_ms = (last["index_wall_s"] - first["index_wall_s"]) / (last["clips"] - first["clips"]) * 1000
    # Linear growth: the cost of each extra clip is the same from 1k to 4k as from 4k to 16k.
    segments_ms = [round((b["index_wall_s"] - a["index_wall_s"]) / (b["clips"] - a["clips"]) * 1000, 3)
                   for a, b in zip(runs, runs[1:])]
    return {
        "corpus": {**BOSTON, "note": "first N rows of the Boston manifest"},
        "runs": runs,
        "per_clip_ratio_largest_vs_smallest": round(last["ms_per_clip"] / first["ms_per_clip"], 3),
        "rss_ratio_largest_vs_smallest": round(last["index_peak_rss_bytes"] / first["index_peak_rss_bytes"], 3),
        "marginal_ms_per_clip": round(marginal_ms, 3),
        "segment_marginal_ms_per_clip": segments_ms,
        "startup_s_estimate": round(first["index_wall_s"] - marginal_ms / 1000 * first["clips"], 2),
        "targets": {
            # Time per clip (start-up included) must not grow with the corpus...
            "per_clip_within_15pct": last["ms_per_clip"] <= first["ms_per_clip"] * 1.15,
            # ...and the cost of an extra clip must not change: time grows linearly.
            "marginal_within_15pct": bool(segments_ms) and abs(segments_ms[-1] / segments_ms[0] - 1) <= 0.15,
            "rss_within_20pct": abs(last["index_peak_rss_bytes"] / first["index_peak_rss_bytes"] - 1) <= 0.20,
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("boston", "slice", "series"))
    parser.add_argument("--tier", default="auto", choices=("auto", "header", "packets"))
    parser.add_argument("--hash", default="sha256", choices=("sha256", "none"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sizes", default="1000,4000,16000")
    parser.add_argument("--delete-corpus", action="store_true")
    parser.add_argument("--results", default=RESULTS_DIR)
    args = parser.parse_args(argv)
    load_before = load_average()
    if args.what == "series":
        result = run_series(args)
    else:
        result = run_corpus(args.what, BOSTON if args.what == "boston" else SLICE, args)
    summary = {"kind": f"scale-{args.what}",
               "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
               "machine": machine(), "load_average_before": load_before,
               "load_average_after": load_average(), "workers": args.workers, "tier": args.tier,
               "hash": args.hash, **result}
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, f"scale-{args.what}-{dt.datetime.now():%Y%m%dT%H%M%S}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print(json.dumps(result.get("targets", {})))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
