"""Header tier vs packets tier: throughput and bytes read on one-minute clips.

    python -m bench.tiers --clips 20

Makes a synth corpus (one-minute 30 fps faststart H.264 MP4s), then indexes
every clip with `index_file` under tier=header and tier=packets in the same
process (hash none, isolation none), alternating the tiers, best of N rounds
each, so a neighbour's load on a shared machine hits both tiers alike. The
ratios are what matter; absolute clips/s depend on the machine.
Writes bench/results/tiers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time

import av

from pipeline.synth import synth
from schemas import ErrorRecord, FileInfo, IndexConfig
from transforms.clip.index_clip import index_file

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "tiers.json")
TIERS = ("header", "packets")


def clip_paths(root: str) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, files in os.walk(os.path.join(root, "clips")) for f in files)


def index_all(paths: list[str], tier: str) -> tuple[float, int, int, set[str]]:
    """(wall seconds, bytes read, frames, frame_count_source values) for one pass."""
    config = IndexConfig(tier=tier, hash="none", isolation="none")
    bytes_read = frames = 0
    sources: set[str] = set()
    started = time.perf_counter()
    for path in paths:
        result = index_file(FileInfo(path, None, None), config)
        if isinstance(result, ErrorRecord):
            raise RuntimeError(f"{path}: {result.error_kind}: {result.message}")
        record = result.clip
        bytes_read += record.bytes_read
        frames += record.frame_count
        sources.add(record.frame_count_source)
    return time.perf_counter() - started, bytes_read, frames, sources


def run(clips: int, rounds: int, keep: str | None) -> dict:
    root = keep or tempfile.mkdtemp(prefix="bench-tiers-")
    if not clip_paths(root):
        synth(root, clips=clips, hours=clips / 60, fps=30, seed=7)
    paths = clip_paths(root)
    total_bytes = sum(os.path.getsize(p) for p in paths)
    best = {tier: float("inf") for tier in TIERS}
    facts: dict[str, dict] = {}
    for _ in range(rounds):
        for tier in TIERS:
            wall_s, bytes_read, frames, sources = index_all(paths, tier)
            best[tier] = min(best[tier], wall_s)
            facts[tier] = {"bytes_read": bytes_read, "frames": frames, "sources": sorted(sources)}
    if facts["header"]["frames"] != facts["packets"]["frames"]:
        raise RuntimeError("the tiers disagree on frame counts")
    result = {
        "clips": len(paths),
        "clip_seconds": 60,
        "total_bytes": total_bytes,
        "rounds": rounds,
        "tiers": {tier: {"best_wall_s": round(best[tier], 4),
                         "clips_per_s": round(len(paths) / best[tier], 1),
                         "bytes_read_pct": round(100 * facts[tier]["bytes_read"] / total_bytes, 2),
                         **facts[tier]} for tier in TIERS},
        "header_speedup_x": round(best["packets"] / best["header"], 2),
        "packets_over_header_bytes_x": round(facts["packets"]["bytes_read"] / facts["header"]["bytes_read"], 1),
        "versions": {"python": platform.python_version(), "pyav": av.__version__,
                     "ffmpeg": av.ffmpeg_version_info, "cpus": os.cpu_count()},
    }
    if not keep:
        shutil.rmtree(root)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20, help="one-minute clips in the corpus")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many passes per tier")
    parser.add_argument("--corpus", help="reuse (or make and keep) the corpus in this folder")
    args = parser.parse_args(argv)
    result = run(args.clips, args.rounds, args.corpus)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")
    for tier in TIERS:
        t = result["tiers"][tier]
        print(f"{tier:8s} {t['clips_per_s']:8.1f} clips/s  best {t['best_wall_s']:.3f} s  "
              f"bytes read {t['bytes_read_pct']:.2f} % of {result['total_bytes']} B  ({', '.join(t['sources'])})")
    print(f"header tier is {result['header_speedup_x']}x faster and reads "
          f"{result['packets_over_header_bytes_x']}x fewer bytes; wrote {RESULTS}")


if __name__ == "__main__":
    main()
