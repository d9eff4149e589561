"""Seed clips and table-aware damage for the MP4 sample-table fuzz (tools/fuzz_moov.py).

The seeds are small real clips made with the ffmpeg CLI, one per shape the
header tier reads: B-frames with composition offsets and the edit list the
muxer writes for them (moov at the end and faststart), negative composition
offsets, an edit list that starts inside the media (`-ss` with stream copy),
an empty edit (a track that starts late), timecode and subtitle tracks, and
fragmented files (empty moov, samples in the moov too, several fragments per
GOP, a complete sidx). The damage hits the boxes those readers parse: the
sample-table boxes (stts, ctts, stss, stsz, stsc, stco, elst, mdhd, mvhd,
tkhd, trex) and the fragment boxes (moof, traf, tfhd, tfdt, trun, sidx):
flipped or overwritten bytes, fields set to edge values, lying box sizes, and
files cut short. Deterministic from the seed.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess

from transforms.clip.mp4.boxes import CONTAINERS

_VIDEO = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=15:duration=2"]
_AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=2"]
_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-g", "15", "-bf", "2", "-x264-params", "b-adapt=0"]
_FRAG = "+frag_keyframe+empty_moov+default_base_moof"
SEEDS = {
    "bframes_audio.mp4": [*_VIDEO, *_AUDIO, *_X264, "-c:a", "aac"],
    "bframes_faststart.mp4": [*_VIDEO, *_X264, "-movflags", "+faststart"],
    "negative_cts.mp4": [*_VIDEO, *_AUDIO, *_X264, "-c:a", "aac", "-movflags", "+negative_cts_offsets"],
    "late_start.mov": [*_VIDEO, *_AUDIO, *_X264, "-c:a", "aac", "-output_ts_offset", "0.5",
                       "-timecode", "01:00:00:00"],
    "fragmented.mp4": [*_VIDEO, *_AUDIO, *_X264, "-c:a", "aac", "-movflags", _FRAG],
    "fragments_small.mp4": [*_VIDEO, *_X264, "-movflags", "+empty_moov+default_base_moof",
                            "-frag_duration", "300000"],
    "fragmented_moov_samples.mp4": [*_VIDEO, *_AUDIO, *_X264, "-c:a", "aac", "-movflags", "+frag_keyframe"],
    "fragmented_sidx_negative.mp4": [*_VIDEO, *_X264, "-movflags",
                                     _FRAG + "+global_sidx+negative_cts_offsets"],
}
_TABLE_BOXES = (b"stts", b"ctts", b"stss", b"stsz", b"stsc", b"stco", b"co64", b"elst", b"mdhd", b"mvhd",
                b"tkhd", b"trex", b"tfhd", b"tfdt", b"trun", b"sidx", b"moof", b"traf", b"edts")
_EDGE_VALUES = (0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x01010000, 0x02000000, 0x20000)


def seed_clips(folder: str) -> list[bytes]:
    """Encode every seed once (about a second each); returns their bytes."""
    os.makedirs(folder, exist_ok=True)
    clips = []
    for name, args in SEEDS.items():
        path = os.path.join(folder, name)
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args, path], check=True, timeout=120)
        clips.append(_read(path))
    # An edit list that starts inside the media: stream copy from 0.4 s of a B-frame clip.
    source, cut_in = os.path.join(folder, "bframes_audio.mp4"), os.path.join(folder, "cut_in.mp4")
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-ss", "0.4", "-i", source, "-c", "copy", cut_in],
                   check=True, timeout=120)
    clips.append(_read(cut_in))
    return clips


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def boxes_of_interest(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, box start, box end) of every box the table readers parse, at any depth."""
    found: list[tuple[bytes, int, int]] = []

    def walk(start: int, end: int, depth: int) -> None:
        offset = start
        while offset + 8 <= end:
            size, box_type = struct.unpack_from(">I4s", data, offset)
            if size == 1 and offset + 16 <= end:
                size = struct.unpack_from(">Q", data, offset + 8)[0]
            if size < 8 or offset + size > end:
                return
            if box_type in _TABLE_BOXES:
                found.append((box_type, offset, offset + size))
            if box_type in CONTAINERS and depth < 8:
                walk(offset + 8, offset + size, depth + 1)
            offset += size

    walk(0, len(data), 0)
    return found


def damage(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One damaged copy of `data` and what was done to it."""
    out = bytearray(data)
    targets = boxes_of_interest(data)
    kind = rng.choice(("bytes", "bytes", "field", "field", "size", "cut"))
    if kind == "cut" or not targets:
        keep = rng.randrange(len(data) // 3, len(data))
        return bytes(out[:keep]), f"cut to {keep} of {len(data)} bytes"
    box_type, start, end = rng.choice(targets)
    name = box_type.decode("latin-1")
    if kind == "size":
        value = rng.choice((0, 1, 7, 8, end - start - 4, end - start + 4, end - start + 12, 0xFFFFFFFF))
        struct.pack_into(">I", out, start, value)
        return bytes(out), f"{name} size := {value}"
    if kind == "field":
        at = start + 8 + 4 * rng.randrange(max(1, min(16, (end - start - 8) // 4)))
        if at + 4 > end:
            return bytes(out), f"{name}: nothing to change"
        current = struct.unpack_from(">I", out, at)[0]
        value = rng.choice(_EDGE_VALUES + ((current + 1) & 0xFFFFFFFF, (current - 1) & 0xFFFFFFFF,
                                           (current * 2) & 0xFFFFFFFF, current ^ (1 << rng.randrange(32))))
        struct.pack_into(">I", out, at, value)
        return bytes(out), f"{name} u32 at +{at - start} := {value:#x}"
    changes = rng.randint(1, 3)
    for _ in range(changes):
        at = rng.randrange(start + 8, end) if end > start + 8 else start
        out[at] = rng.randrange(256) if rng.random() < 0.5 else out[at] ^ (1 << rng.randrange(8))
    return bytes(out), f"{name}: {changes} bytes changed"
