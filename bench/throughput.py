"""Throughput of `clipindex index` against ffprobe and bare PyAV, on one corpus, in one run.

    python -m bench.throughput [--corpus DIR] [--clips 3000 --hours 50 --fps 30 --size 160x120]
                               [--tiers header,packets] [--repeat 1] [--workers 2] [--sha256]

Makes the corpus with `clipindex synth` when DIR has none, then times, at the
same parallelism (`--workers`):

* `clipindex index` end to end through the CLI (match -> Beam -> Parquet ->
  run.json), `--hash none`, once per tier; bytes read come from the clips
  table's `bytes_read`;
* the ffprobe loop and the bare PyAV loop (`bench/baselines.py`).

Each contender is a separate process tree, timed wall-clock, its memory the
peak sum of RSS over the tree sampled every 0.2 s (`bench/measure.py`). With
`--repeat N` the contenders run interleaved N times and the best wall time
counts (the machine is shared). Results: bench/results/throughput-<stamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import shutil
import sys
from typing import Optional

import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.measure import Measured, load_average, machine, run_measured

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
WORK_DIR = os.path.join(BENCH_DIR, "work")
RESULTS_DIR = os.path.join(BENCH_DIR, "results")


def env(repo: str = REPO) -> dict:
    """Beam workers and the isolation child import this checkout's packages (or `repo`'s)."""
    return {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}


def ensure_corpus(corpus: str, clips: int, hours: float, fps: int, size: str) -> dict:
    """Synthesize the corpus unless DIR already holds one made with the same parameters."""
    params = {"clips": clips, "hours": hours, "fps": fps, "size": size}
    stamp = os.path.join(corpus, "synth-params.json")
    if os.path.exists(stamp):
        with open(stamp, encoding="utf-8") as handle:
            if json.load(handle) == params:
                return params
        raise SystemExit(f"{corpus} holds a different corpus; delete it or choose another --corpus")
    measured = run_measured([sys.executable, "-m", "pipeline", "synth", corpus, "--clips", str(clips),
                             "--hours", str(hours), "--fps", str(fps), "--size", size],
                            env=env(), cwd=REPO, interval_s=1.0)
    if measured.returncode != 0:
        raise SystemExit(f"synth failed: {measured.stderr.strip()[-2000:]}")
    with open(stamp, "w", encoding="utf-8") as handle:
        json.dump(params, handle)
    print(f"synth: {clips} clips, {hours} h in {measured.wall_s:.1f} s", file=sys.stderr)
    return params


def corpus_files(corpus: str) -> list[str]:
    return sorted(glob.glob(os.path.join(corpus, "clips", "**", "*.mp4"), recursive=True))


def clips_table_totals(index_dir: str) -> dict:
    table = pq.read_table(os.path.join(index_dir, "clips"), columns=["bytes_read", "size_bytes"])
    return {"bytes_read": pc.sum(table["bytes_read"]).as_py() or 0,
            "size_bytes": pc.sum(table["size_bytes"]).as_py() or 0}


def result_row(name: str, measured: Measured, clips: int, hours: float, frames: int,
               extra: Optional[dict] = None) -> dict:
    return {
        "name": name,
        "wall_s": round(measured.wall_s, 3),
        "clips_per_s": round(clips / measured.wall_s, 2),
        "hours_per_s": round(hours / measured.wall_s, 4),
        "frames": frames,
        "peak_rss_bytes": measured.peak_rss_bytes,
        "peak_pss_bytes": measured.peak_pss_bytes,
        "peak_processes": measured.peak_processes,
        "cpu_s": round(measured.cpu_s, 2),
        **(extra or {}),
    }


def _check(measured: Measured, what: str) -> None:
    if measured.returncode != 0:
        raise SystemExit(f"{what} failed (exit {measured.returncode}): {measured.stderr.strip()[-3000:]}")


def run_clipindex(corpus: str, out_dir: str, tier: str, hash_mode: str, workers: int,
                  isolation: str = "process", repo: Optional[str] = None, keep: bool = False,
                  ext: str = "mp4") -> dict:
    shutil.rmtree(out_dir, ignore_errors=True)
    measured = run_measured([sys.executable, "-m", "pipeline", "index", "--input",
                             os.path.join(corpus, "clips", "**", f"*.{ext}"), "--output", out_dir,
                             "--tier", tier, "--hash", hash_mode, "--isolation", isolation,
                             "--workers", str(workers), "--quiet"], env=env(repo or REPO), cwd=repo or REPO)
    _check(measured, f"clipindex index --tier {tier}")
    with open(os.path.join(out_dir, "run.json"), encoding="utf-8") as handle:
        run = json.load(handle)
    totals = clips_table_totals(out_dir)
    name = f"clipindex {tier}" + (" sha256" if hash_mode == "sha256" else "") + (
        " no-isolation" if isolation == "none" else "") + (" @" + os.path.basename(repo) if repo else "")
    row = result_row(name, measured, run["indexed"], run["total_hours"], run["total_frames"],
                     {"tier": tier, "hash": hash_mode, "isolation": isolation, "errors": run["errors"],
                      "run_wall_s": run["wall_s"], "bytes_read": totals["bytes_read"],
                      "bytes_read_fraction": round(totals["bytes_read"] / max(totals["size_bytes"], 1), 4)})
    if not keep:  # `keep`: the caller reads the index, then deletes it
        shutil.rmtree(out_dir, ignore_errors=True)
    return row


def run_baseline(kind: str, list_path: str, workers: int, tier: str, out_dir: str,
                 extra_args: tuple[str, ...] = (), name: Optional[str] = None) -> dict:
    shutil.rmtree(out_dir, ignore_errors=True)
    argv = [sys.executable, "-m", "bench.baselines", kind, "--list", list_path, "--workers", str(workers)]
    if kind == "pyav":
        argv += ["--tier", tier, "--output", out_dir, *extra_args]
    measured = run_measured(argv, env=env(), cwd=REPO)
    _check(measured, f"baseline {kind}")
    totals = json.loads(measured.stdout.strip().splitlines()[-1])
    shutil.rmtree(out_dir, ignore_errors=True)
    name = name or ("ffprobe loop" if kind == "ffprobe" else f"bare PyAV {tier}")
    return result_row(name, measured, totals["clips"], totals["total_duration_s"] / 3600, totals["frames"],
                      {"tier": None if kind == "ffprobe" else tier, "errors": totals["errors"]})


def best(rows: list[dict]) -> dict:
    """Best-of-N by wall time, keeping every wall time and the worst peak memory."""
    chosen = dict(min(rows, key=lambda r: r["wall_s"]))
    chosen["all_wall_s"] = [r["wall_s"] for r in rows]
    chosen["peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in rows)
    chosen["peak_pss_bytes"] = max(r["peak_pss_bytes"] for r in rows)
    return chosen


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
