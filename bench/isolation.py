"""What per-clip isolation costs: `--isolation process` against `none`, same clips.

    python -m bench.isolation [--clips 120] [--hours 0.5] [--rounds 3]

Indexes one synthetic corpus of healthy clips both ways in the same run,
alternating the two each round so a busy machine slows both alike, and keeps
the best of `--rounds` for each. The isolated way (driven as the DoFn drives
it, one clip queued behind the one being read) pays a pickle round trip per
clip through the child's pipe (the FileInfo in; the ClipRecord and its frames,
as Arrow IPC bytes, out) and a process hand-off; the child's start-up is paid
once per worker and reported apart.

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
import shutil
import subprocess
import sys
import tempfile
import time

from pipeline.synth import synth
from schemas import FileInfo, IndexConfig
from transforms.beam.index_clips import QUEUED_CLIPS
from transforms.isolation.child import index_in_process, quiet_ffmpeg
from transforms.isolation.pool import IsolatedIndexer


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
        for info in files:  # as the DoFn does: one clip queued behind the one being read
            indexer.submit(info)
            while indexer.in_flight > QUEUED_CLIPS:
                indexer.next_result()
        while indexer.in_flight:
            indexer.next_result()
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


def _cli_wall_s(inputs: str, output: str, mode: str, workers: int) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", "index", "--input", inputs, "--output", output,
                    "--isolation", mode, "--workers", str(workers), "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure_cli(corpus: str, rounds: int, workers: int) -> dict:
    """Whole `clipindex index` runs over a third of the clips and over all of them.

    A run's wall time is a fixed part (interpreter and Beam start-up, worker
    processes, each isolation child's start-up, the commit) plus a per-clip
    part; the difference between the two corpus sizes isolates the per-clip
    part, which is what decides throughput on a long nightly run. Modes and
    sizes alternate, best of `rounds` each.
    """
    everything = sorted(glob.glob(os.path.join(corpus, "clips", "**", "*.mp4"), recursive=True))
    small = tempfile.mkdtemp(prefix="clipindex-bench-third-")
    for path in everything[: len(everything) // 3]:
        os.symlink(path, os.path.join(small, os.path.basename(os.path.dirname(path)) + "-"
                                      + os.path.basename(path)))
    sizes = {"third": (os.path.join(small, "*.mp4"), len(everything) // 3),
             "all": (os.path.join(corpus, "clips", "**"), len(everything))}
    walls = {(mode, size): [] for mode in ("none", "process") for size in sizes}
    with tempfile.TemporaryDirectory(prefix="clipindex-bench-out-") as out:
        for round_number in range(rounds):
            for (mode, size), samples in walls.items():
                samples.append(_cli_wall_s(sizes[size][0], os.path.join(out, f"{mode}-{size}-{round_number}"),
                                           mode, workers))
    shutil.rmtree(small)
    best = {key: min(samples) for key, samples in walls.items()}
    extra_clips = sizes["all"][1] - sizes["third"][1]
    per_clip_ms = {mode: 1000 * (best[(mode, "all")] - best[(mode, "third")]) / extra_clips
                   for mode in ("none", "process")}
    return {"clips": sizes["all"][1], "workers": workers,
            "none_run_s": best[("none", "all")], "process_run_s": best[("process", "all")],
            "none_per_clip_ms": per_clip_ms["none"], "process_per_clip_ms": per_clip_ms["process"],
            "marginal_ratio": per_clip_ms["process"] / per_clip_ms["none"],
            "whole_run_ratio": best[("process", "all")] / best[("none", "all")]}


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
        print(f"  clipindex index, {cli['workers']} workers, {cli['clips']} clips: per clip (marginal) none "
              f"{cli['none_per_clip_ms']:.2f} ms, process {cli['process_per_clip_ms']:.2f} ms, ratio "
              f"{cli['marginal_ratio']:.3f}; whole run none {cli['none_run_s']:.1f} s, process "
              f"{cli['process_run_s']:.1f} s, ratio {cli['whole_run_ratio']:.3f}")
    return 0 if (r["cpu_ratio"] - 1) * 100 <= args.max_overhead_pct else 1


if __name__ == "__main__":
    sys.exit(main())
