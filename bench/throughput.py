"""Throughput of `clipindex index` against ffprobe and bare PyAV, on one corpus, in one run.

    python -m bench.throughput [--corpus DIR] [--clips 3000 --hours 50 --fps 30 --size 160x120]
                               [--tiers header,packets] [--repeat 1] [--workers 2] [--sha256]

Makes the corpus with `clipindex synth` when DIR has none, then times, at the
same parallelism (`--workers`):

* `clipindex index` end to end through the CLI (match -> Beam -> Parquet ->
  run.json), `--hash none`, once per tier; bytes read come from the clips
  table's `bytes_read`;
* the ffprobe loop and the bare PyAV loop (`bench/lib/baselines.py`).

Each contender is a separate process tree, timed wall-clock, its memory the
peak sum of RSS over the tree sampled every 0.2 s (`bench/lib/measure.py`). With
`--repeat N` the contenders run interleaved N times and the best wall time
counts (the machine is shared). Results: bench/results/throughput-<stamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys


from bench.lib.harness import (  # noqa: F401 - some are used here only by name in other benches
    REPO, RESULTS_DIR, WORK_DIR, best, clips_table_totals, corpus_files, ensure_corpus, env, result_row,
    run_baseline, run_clipindex,
)
from bench.lib.measure import load_average, machine

def ratios(results: dict[str, dict], tiers: list[str]) -> dict:
    out = {}
    ffprobe = results.get("ffprobe loop")
    for tier in tiers:
        ours = results.get(f"clipindex {tier}")
        bare = results.get(f"bare PyAV {tier}")
        if ours and ffprobe:
            out[f"{tier}_vs_ffprobe"] = round(ours["clips_per_s"] / ffprobe["clips_per_s"], 2)
        if ours and bare:
            out[f"{tier}_vs_bare_pyav"] = round(ours["clips_per_s"] / bare["clips_per_s"], 3)
    return out


def contenders(args, tiers: list[str], attempt: int) -> list[tuple]:
    plan = []
    for tier in tiers:
        plan.append(("clipindex", tier, "none", "process"))
    if args.sha256:
        plan.append(("clipindex", "header", "sha256", "process"))
    if args.no_isolation:
        plan.append(("clipindex", "header", "none", "none"))
    if args.compare_repo:
        plan.append(("clipindex@", "header", "none", "process"))
    if not args.skip_ffprobe and (attempt == 0 or not args.ffprobe_once):
        plan.append(("ffprobe", None, None, None))
    for tier in tiers:
        plan.append(("pyav", tier, None, None))
    return plan


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=os.path.join(WORK_DIR, "throughput-3000"))
    parser.add_argument("--clips", type=int, default=3000)
    parser.add_argument("--hours", type=float, default=50.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--size", default="160x120")
    parser.add_argument("--tiers", default="header,packets")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="best of N, interleaved (default 1)")
    parser.add_argument("--sha256", action="store_true", help="also time the header tier with --hash sha256")
    parser.add_argument("--no-isolation", action="store_true",
                        help="also time the header tier with --isolation none")
    parser.add_argument("--skip-ffprobe", action="store_true")
    parser.add_argument("--compare-repo", metavar="DIR",
                        help="also time the header tier of another checkout (e.g. before a change)")
    parser.add_argument("--ffprobe-once", action="store_true",
                        help="with --repeat, run the (slow) ffprobe loop in the first round only")
    parser.add_argument("--results", default=RESULTS_DIR, help="folder for the results JSON")
    parser.add_argument("--name", default="throughput",
                        help="results file prefix; `large-throughput` for the larger-corpus run that "
                             "BENCHMARKS.md shows beside the main one (default: throughput)")
    parser.add_argument("--keep-corpus", action="store_true", default=True)
    parser.add_argument("--delete-corpus", dest="keep_corpus", action="store_false")
    args = parser.parse_args(argv)
    tiers = [t for t in args.tiers.split(",") if t]
    for tier in tiers:
        if tier not in ("header", "packets"):
            parser.error(f"unknown tier {tier!r} (keyframes decode is not implemented in this tree)")

    params = ensure_corpus(args.corpus, args.clips, args.hours, args.fps, args.size)
    files = corpus_files(args.corpus)
    scratch = os.path.join(WORK_DIR, "scratch-throughput")
    os.makedirs(scratch, exist_ok=True)
    list_path = os.path.join(scratch, "files.txt")
    with open(list_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(files) + "\n")
    corpus_bytes = sum(os.path.getsize(f) for f in files)

    load_before = load_average()
    runs: dict[str, list[dict]] = {}
    for attempt in range(args.repeat):
        for kind, tier, hash_mode, isolation in contenders(args, tiers, attempt):
            out_dir = os.path.join(scratch, "out")
            if kind.startswith("clipindex"):
                repo = os.path.abspath(args.compare_repo) if kind == "clipindex@" else None
                row = run_clipindex(args.corpus, out_dir, tier, hash_mode, args.workers, isolation, repo)
            else:
                row = run_baseline(kind, list_path, args.workers, tier or "header", out_dir)
            row["load_average"] = load_average()
            runs.setdefault(row["name"], []).append(row)
            print(f"[{attempt + 1}/{args.repeat}] {row['name']:<28} {row['wall_s']:8.2f} s "
                  f"{row['clips_per_s']:8.1f} clips/s {row['hours_per_s']:7.3f} h/s "
                  f"peak RSS {row['peak_rss_bytes'] / 2**20:7.0f} MiB  load {row['load_average'][0]}",
                  file=sys.stderr, flush=True)
    results = {name: best(rows) for name, rows in runs.items()}
    summary = {
        "kind": "throughput",
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "workers": args.workers,
        "repeat": args.repeat,
        "ffprobe_once": args.ffprobe_once,
        "corpus": {**params, "files": len(files), "bytes": corpus_bytes},
        "results": list(results.values()),
        "ratios": ratios(results, tiers),
    }
    if "clipindex header sha256" in results and "clipindex header" in results:
        hashed, plain = results["clipindex header sha256"], results["clipindex header"]
        summary["sha256_cost"] = {
            "extra_wall_s": round(hashed["wall_s"] - plain["wall_s"], 2),
            "extra_ms_per_clip": round((hashed["wall_s"] - plain["wall_s"]) / len(files) * 1000, 2),
            "corpus_mb_per_s_hashed": round(corpus_bytes / 1e6 / hashed["wall_s"], 1),
        }
    os.makedirs(args.results, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    path = os.path.join(args.results, f"{args.name}-{stamp}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print(json.dumps(summary["ratios"]), flush=True)
    print(f"wrote {path}", file=sys.stderr)
    shutil.rmtree(scratch, ignore_errors=True)
    if not args.keep_corpus:
        shutil.rmtree(args.corpus, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
