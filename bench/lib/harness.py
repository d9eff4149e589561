"""What every benchmark shares: where corpora and results go, running clipindex and the
baselines on a corpus, and picking the best of repeated runs."""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
from typing import Optional

import pyarrow.compute as pc

from bench.lib.measure import Measured, run_measured
from bench.lib.tables import read_index_table

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    table = read_index_table(index_dir, "clips", ["bytes_read", "size_bytes"])
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
    argv = [sys.executable, "-m", "bench.lib.baselines", kind, "--list", list_path, "--workers", str(workers)]
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


