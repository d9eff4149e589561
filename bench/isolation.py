"""What per-clip isolation costs: `--isolation process` against `none`, same clips.

    python -m bench.isolation [--clips 120] [--hours 0.5] [--rounds 3]

Indexes one synthetic corpus of healthy clips both ways in the same run,
alternating the two each round so a busy machine slows both alike, and keeps
the best of `--rounds` for each. The isolated way pays a pickle round trip per
clip through the child's pipe (the FileInfo in; the ClipRecord and its frames,
as Arrow IPC bytes, out) and two process hand-offs; the child's start-up is
paid once per worker and reported apart.

Two ratios (process / none):
* CPU: CPU seconds of the worker plus its child against the worker alone. This
  is the throughput cost when the machine is busy (every core has work).
* wall: elapsed time. On a shared, overloaded machine it also counts the time
  the child waits for a core after each hand-off (reported as run-queue wait).
* with --cli, whole `clipindex index` runs: clips/s as a user sees them
  (Beam's own per-clip work and the Parquet writes included).
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import subprocess
import sys
import tempfile
import time

from pipeline.synth import synth
from schemas import FileInfo, IndexConfig
from transforms.isolation import IsolatedIndexer, index_in_process, quiet_ffmpeg


@dataclasses.dataclass(frozen=True)
class Sample:
    wall_s: float
    cpu_s: float
    queue_wait_s: float = 0.0


def _files(corpus: str) -> list[FileInfo]:
    paths = sorted(glob.glob(os.path.join(corpus, "clips", "**", "*.mp4"), recursive=True))
    return [FileInfo(p, os.path.getsize(p), os.path.getmtime(p)) for p in paths]


def _schedstat_s(pid: int) -> tuple[float, float]:
    """(CPU time, time waiting for a CPU) of a live process, from /proc, in seconds."""
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as handle:
        on_cpu_ns, waiting_ns, _ = handle.read().split()
    return int(on_cpu_ns) / 1e9, int(waiting_ns) / 1e9


def _in_process(files: list[FileInfo], config: IndexConfig) -> Sample:
    wall, cpu = time.perf_counter(), time.process_time()
    for info in files:
        index_in_process(info, config)
    return Sample(time.perf_counter() - wall, time.process_time() - cpu)


def _isolated(files: list[FileInfo], config: IndexConfig) -> Sample:
    """One round through a fresh child, started (and warmed) before the clock runs."""
    indexer = IsolatedIndexer(config)
    try:
        indexer.index(files[0])
        pid = indexer.child_pid
        child_cpu, child_wait = _schedstat_s(pid)
        wall, cpu = time.perf_counter(), time.process_time()
        for info in files:
            indexer.index(info)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if indexer.child_pid != pid:
            raise RuntimeError("the child restarted: a healthy clip crashed it or hung")
        child_cpu_after, child_wait_after = _schedstat_s(pid)
    finally:
        indexer.close()
    return Sample(wall, cpu + child_cpu_after - child_cpu, child_wait_after - child_wait)


def measure(corpus: str, rounds: int, tier: str) -> dict:
    files = _files(corpus)
    config = IndexConfig(tier=tier, hash="sha256")
    quiet_ffmpeg()
    started = time.perf_counter()
    first = IsolatedIndexer(config)
    first.index(files[0])
    startup_s = time.perf_counter() - started
    first.close()
    index_in_process(files[0], config)  # warm the in-process caches too
    none, process = [], []
    for _ in range(rounds):
        none.append(_in_process(files, config))
        process.append(_isolated(files, config))
    per_clip_ms = 1000 / len(files)
    best = {name: (min(s.wall_s for s in samples), min(s.cpu_s for s in samples))
            for name, samples in (("none", none), ("process", process))}
    return {
        "clips": len(files), "tier": tier, "rounds": rounds,
        "none_wall_ms": best["none"][0] * per_clip_ms, "process_wall_ms": best["process"][0] * per_clip_ms,
        "none_cpu_ms": best["none"][1] * per_clip_ms, "process_cpu_ms": best["process"][1] * per_clip_ms,
        "wall_ratio": best["process"][0] / best["none"][0],
        "cpu_ratio": best["process"][1] / best["none"][1],
        "queue_wait_ms": min(s.queue_wait_s for s in process) * per_clip_ms,
        "child_startup_s": startup_s,
        "load_avg_1min": os.getloadavg()[0],
    }


def measure_cli(corpus: str, rounds: int, workers: int) -> dict:
    """Whole `clipindex index` runs, alternating the two modes: clips/s as users see it."""
    walls: dict[str, list[float]] = {"none": [], "process": []}
    clips = len(_files(corpus))
    with tempfile.TemporaryDirectory(prefix="clipindex-bench-out-") as out:
        for round_number in range(rounds):
            for mode in ("none", "process"):
                output = os.path.join(out, f"{mode}-{round_number}")
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "pipeline", "index", "--input",
                                os.path.join(corpus, "clips", "**"), "--output", output, "--isolation", mode,
                                "--workers", str(workers), "--quiet"], check=True, stdout=subprocess.DEVNULL)
                walls[mode].append(time.perf_counter() - started)
    best = {mode: min(values) for mode, values in walls.items()}
    return {"clips": clips, "none_clips_per_s": clips / best["none"],
            "process_clips_per_s": clips / best["process"],
            "throughput_ratio": best["none"] / best["process"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=120, help="healthy clips (default: 120)")
    parser.add_argument("--hours", type=float, default=0.5, help="their total hours (default: 0.5)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many (default: 3)")
    parser.add_argument("--size", default="160x120",
                        help="frame size WxH; small clips are the worst case (default: 160x120)")
    parser.add_argument("--tier", choices=("auto", "packets"), default="auto")
    parser.add_argument("--cli", action="store_true",
                        help="also time whole `clipindex index` runs in both modes (slower)")
    parser.add_argument("--workers", type=int, default=2, help="workers for --cli (default: 2)")
    parser.add_argument("--max-overhead-pct", type=float, default=10.0,
                        help="exit 1 when isolation costs more CPU than this (default: 10)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clipindex-bench-") as corpus:
        synth(corpus, clips=args.clips, hours=args.hours, fps=30, size=args.size, seed=1)
        r = measure(corpus, args.rounds, args.tier)
        cli = measure_cli(corpus, args.rounds, args.workers) if args.cli else None
    print(f"isolation cost, {r['clips']} healthy {args.size} clips, tier {r['tier']}, best of {r['rounds']} "
          f"(load average {r['load_avg_1min']:.1f}):\n"
          f"  CPU  none {r['none_cpu_ms']:.2f} ms/clip, process {r['process_cpu_ms']:.2f} ms/clip, "
          f"ratio {r['cpu_ratio']:.3f}\n"
          f"  wall none {r['none_wall_ms']:.2f} ms/clip, process {r['process_wall_ms']:.2f} ms/clip, "
          f"ratio {r['wall_ratio']:.3f} (child waited {r['queue_wait_ms']:.2f} ms/clip for a CPU)\n"
          f"  child start-up {r['child_startup_s']:.2f} s, once per worker")
    if cli is not None:
        print(f"  clipindex index, {args.workers} workers: none {cli['none_clips_per_s']:.1f} clips/s, "
              f"process {cli['process_clips_per_s']:.1f} clips/s, throughput ratio "
              f"{cli['throughput_ratio']:.3f}")
    return 0 if (r["cpu_ratio"] - 1) * 100 <= args.max_overhead_pct else 1


if __name__ == "__main__":
    sys.exit(main())
