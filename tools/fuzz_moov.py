"""Differential fuzz of the numpy MP4 sample-table reader against FFmpeg's own index.

    python tools/fuzz_moov.py --seed 3 --count 5000

Each case damages 1-4 bytes inside the `moov` of a small valid clip
(`tools.mutate.seed_clips`), then asks both sides for the video track's index:
FFmpeg through PyAV (`stream.index_entries`) and clipindex through
`transforms.index_clip._mp4_sample_table` (the numpy reader plus the checks
that decide whether its table may stand in for FFmpeg's). Whenever clipindex
takes its own table, it must equal FFmpeg's entry for entry (timestamps,
offsets, sizes, keyframe flags, nothing hidden by an edit list). Declining is
always allowed: the header tier then reads PyAV's entries. Exit 1 on any
disagreement. Deterministic from the seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import random
import sys
import tempfile
from typing import Optional

if __package__ in (None, ""):  # run as a script: the repo's packages
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import av  # noqa: E402
import numpy as np  # noqa: E402

from tools.mutate import seed_clips, top_level_boxes  # noqa: E402
from transforms.index_clip import _mp4_sample_table  # noqa: E402
from transforms.mp4_index import read_moov  # noqa: E402
from transforms.timeline import _entry_arrays  # noqa: E402


@dataclasses.dataclass
class MoovFuzzReport:
    taken: int = 0          # cases where clipindex used its own table
    declined: int = 0       # cases where it fell back to FFmpeg's entries
    unreadable: int = 0     # FFmpeg itself could not open the damaged clip
    disagreements: list = dataclasses.field(default_factory=list)  # (case, what differs)


def _damage_moov(data: bytes, rng: random.Random) -> Optional[bytes]:
    moov = [(start, end) for start, end in top_level_boxes(data) if data[start + 4:start + 8] == b"moov"]
    if not moov:
        return None
    start, end = moov[0]
    damaged = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(start + 8, end)
        if rng.random() < 0.5:
            damaged[at] ^= 1 << rng.randrange(8)
        else:
            damaged[at] = rng.randrange(256)
    return bytes(damaged)


def _differences(table, ffmpeg) -> list[str]:
    timestamps, positions, sizes, keys, discard = ffmpeg
    if table.dts.shape[0] != timestamps.shape[0]:
        return [f"{table.dts.shape[0]} samples vs FFmpeg's {timestamps.shape[0]}"]
    pairs = (("dts", table.dts, timestamps), ("pos", table.pos, positions),
             ("size", table.size_bytes, sizes), ("keyframe", table.is_keyframe, keys))
    found = [name for name, ours, theirs in pairs if not np.array_equal(ours, theirs)]
    return found + (["discard"] if discard.any() else [])


def run(seed: int, count: int) -> MoovFuzzReport:
    av.logging.set_level(None)
    rng = random.Random(seed)
    report = MoovFuzzReport()
    with tempfile.TemporaryDirectory(prefix="clipindex-fuzz-moov-") as workdir:
        seeds = seed_clips(workdir)
    for case in range(count):
        data = _damage_moov(rng.choice(seeds), rng)
        if data is None:
            continue
        try:
            with av.open(io.BytesIO(data)) as container:
                stream = container.streams.video[0]
                ffmpeg = _entry_arrays(stream.index_entries)
                table = _mp4_sample_table(read_moov(io.BytesIO(data)), stream)
        except (av.FFmpegError, IndexError, ValueError):
            report.unreadable += 1
            continue
        if table is None:
            report.declined += 1
            continue
        report.taken += 1
        differs = _differences(table, ffmpeg)
        if differs:
            report.disagreements.append((case, ", ".join(differs)))
    return report


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args(argv)
    report = run(args.seed, args.count)
    print(f"moov fuzz seed {args.seed}: {args.count} cases; own table taken {report.taken}, declined "
          f"{report.declined}, unreadable to FFmpeg {report.unreadable}; "
          f"{len(report.disagreements)} disagreements {report.disagreements[:10]}")
    return 1 if report.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
