"""Differential fuzz of the MP4 sample-table readers against FFmpeg's demuxer.

    python tools/fuzz_moov.py --seed 3 --count 5000

Each case damages a small valid clip: either 1-4 bytes anywhere in the moov
of the PyAV-made seeds (`tools.mutate.seed_clips`), or, in the ffmpeg-made
seeds (B-frames, composition offsets, edit lists, timecode, fragments; see
`tools/mp4_damage.py`), the sample-table and fragment boxes themselves:
bytes, fields set to edge values, box sizes, and cuts. Then both sides index
the video track: FFmpeg through PyAV (every packet demuxed, then its index
entries) and clipindex through `transforms.clip.mp4.header_tier.sample_table_of` and
`transforms.clip.timeline.from_table` (the numpy readers plus every check that
decides whether a table may stand in for demuxing). Whenever clipindex takes its own table it must equal the demuxed
packets: pts, dts, duration, position, size and discard flag of every packet,
and the keyframe flags of FFmpeg's index (the packets' keyframe flags come
from the H.264/HEVC parser reading the bitstream, which a sample table cannot
see; the readers take them from the sync-sample tables like FFmpeg's index).
Declining is always allowed: the clip is demuxed then. Exit 1 on any
disagreement. Deterministic from the seed.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import io
import os
import random
import sys
import tempfile
import time
from typing import Optional

if __package__ in (None, ""):  # run as a script: the repo's packages
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import av  # noqa: E402
import numpy as np  # noqa: E402

from tools import mp4_damage  # noqa: E402
from tools.mutate import seed_clips, top_level_boxes  # noqa: E402
from transforms.clip.mp4.boxes import read_moov
from transforms.clip.mp4.header_tier import sample_table_of  # noqa: E402
from transforms.clip.timeline import Timeline, _entry_arrays, from_table  # noqa: E402

_FIELDS = ("pts", "dts", "duration", "pos", "size", "discard")


@dataclasses.dataclass
class MoovFuzzReport:
    taken: int = 0          # cases where clipindex used its own table
    declined: int = 0       # cases where it would demux instead
    unreadable: int = 0     # FFmpeg itself could not open the damaged clip
    disagreements: list = dataclasses.field(default_factory=list)  # (case, recipe, what differs)
    reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    taken_by_seed: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    wall_s: float = 0.0


def _damage_moov(data: bytes, rng: random.Random) -> Optional[tuple[bytes, str]]:
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
    return bytes(damaged), "moov bytes"


def ffmpeg_packets(container, stream) -> dict[str, np.ndarray]:
    """What FFmpeg demuxes for the stream (until the end or its first error), and its index after."""
    rows = []
    try:
        for packet in container.demux(stream):
            if packet.size:
                rows.append((packet.pts, packet.dts, packet.duration, packet.pos, packet.size,
                             packet.is_discard))
    except av.FFmpegError:
        pass
    table = np.array([[-1 if v is None else int(v) for v in row] for row in rows], np.int64).reshape(-1, 6)
    found = {name: table[:, number] for number, name in enumerate(_FIELDS)}
    found["index_keys"] = _entry_arrays(stream.index_entries)[3]
    return found


def differences(timeline: Timeline, ffmpeg: dict[str, np.ndarray]) -> list[str]:
    count = timeline.frame_count
    if count != ffmpeg["pts"].shape[0]:
        return [f"{count} packets vs FFmpeg's {ffmpeg['pts'].shape[0]}"]
    discard = timeline.is_discard if timeline.is_discard is not None else np.zeros(count, bool)
    ours = {"pts": timeline.pts, "dts": timeline.dts, "duration": timeline.duration, "pos": timeline.pos,
            "size": timeline.size_bytes, "discard": discard}
    found = [name for name in _FIELDS if not np.array_equal(ours[name], ffmpeg[name])]
    keys = ffmpeg["index_keys"][:count].copy()
    if timeline.corrupt_packet_count:  # the cut last packet: no parser sees a whole keyframe in it
        keys[-1] = False
    if keys.shape[0] != count or not np.array_equal(timeline.is_keyframe, keys):
        found.append("keyframe")
    return found


def check(data: bytes, report: MoovFuzzReport, case: int, recipe: str) -> None:
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            reader = io.BytesIO(data)
            # The production decision: the table, then the tier's own refusal (samples past EOF).
            timeline, verdict = from_table(sample_table_of(reader, stream, len(data), read_moov(reader)), len(data))
            ffmpeg = ffmpeg_packets(container, stream) if timeline is not None else None
    except (av.FFmpegError, IndexError, ValueError):
        report.unreadable += 1
        return
    if timeline is None:
        report.declined += 1
        report.reasons[verdict.reason] += 1
        return
    report.taken += 1
    report.taken_by_seed[recipe.split(":")[0]] += 1
    found = differences(timeline, ffmpeg)
    if found:
        report.disagreements.append((case, recipe, ", ".join(found)))


def seeds(workdir: str) -> list[tuple[str, bytes]]:
    plain = seed_clips(os.path.join(workdir, "pyav"))
    made = mp4_damage.seed_clips(os.path.join(workdir, "ffmpeg"))
    names = list(mp4_damage.SEEDS) + ["cut_in.mp4"]
    return [(f"pyav{i}", clip) for i, clip in enumerate(plain[:2])] + list(zip(names, made))


def run(seed: int, count: int, only: Optional[int] = None, keep: Optional[str] = None) -> MoovFuzzReport:
    """`count` cases from `seed` (each case rebuilds from (seed, case) alone); `only`: one case,
    written to the folder `keep` when given."""
    av.logging.set_level(None)
    report = MoovFuzzReport()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="clipindex-fuzz-moov-") as workdir:
        clips = seeds(workdir)
    for case in (range(count) if only is None else (only,)):
        rng = random.Random(f"{seed}:{case}")
        name, clip = clips[rng.randrange(len(clips))]
        damaged = _damage_moov(clip, rng) if name.startswith("pyav") else mp4_damage.damage(clip, rng)
        if damaged is None:
            continue
        data, what = damaged
        if keep:
            os.makedirs(keep, exist_ok=True)
            with open(os.path.join(keep, f"case-{seed}-{case}.mp4"), "wb") as handle:
                handle.write(data)
        check(data, report, case, f"{name}: {what}")
    report.wall_s = time.perf_counter() - started
    return report


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--case", type=int, help="run this one case only")
    parser.add_argument("--keep", help="with --case: write the damaged clip into this folder")
    args = parser.parse_args(argv)
    report = run(args.seed, args.count, args.case, args.keep)
    print(f"moov fuzz seed {args.seed}: {args.count} cases in {report.wall_s:.0f} s; own table taken "
          f"{report.taken}, declined {report.declined}, unreadable to FFmpeg {report.unreadable}; "
          f"{len(report.disagreements)} disagreements")
    print("taken by seed:", dict(report.taken_by_seed))
    print("top reasons to decline:", report.reasons.most_common(12))
    for case in report.disagreements[:20]:
        print("DISAGREE", case)
    return 1 if report.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
