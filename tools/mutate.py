"""Small valid clips and deterministic damage to them, for fuzzing the indexer.

Everything is made at run time (no committed media): `seed_clips()` encodes a
few tiny clips with PyAV, and `mutate()` damages one of them the way storage,
transfers and buggy cameras do (flipped bits, overwritten runs, cuts, boxes in
the wrong order). The same seed always gives the same bytes, so any failure
can be rebuilt from (seed, case number) alone.
"""

from __future__ import annotations

import os
import random
import struct
from typing import Callable, Iterator, Optional

import av
import numpy as np

CLIP_SIZE = (64, 48)
CLIP_FPS = 15


def make_clip(path: str, frames: int = CLIP_FPS, fps: int = CLIP_FPS, size: tuple[int, int] = CLIP_SIZE,
              audio: bool = False, faststart: bool = True, container: str = "mp4") -> str:
    """Encode a tiny H.264 clip (one keyframe per second) with optional AAC audio.

    One encoder thread: x264 output then depends only on the settings, so the
    same recipe gives the same bytes on any machine.
    """
    options = {"movflags": "+faststart"} if faststart and container == "mp4" else {}
    with av.open(path, "w", format=container, options=options) as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "g": str(fps),
                                                              "threads": "1"})
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        sound = out.add_stream("aac", rate=8000, layout="mono") if audio else None
        for index in range(frames):
            image = np.full((size[1], size[0], 3), (index * 37) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            samples = 8000 * frames // fps
            tone = (np.sin(np.arange(samples) / 8.0) * 0.3).astype(np.float32).reshape(1, -1)
            chunk = 1024
            for start in range(0, samples, chunk):
                piece = av.AudioFrame.from_ndarray(tone[:, start:start + chunk], format="fltp", layout="mono")
                piece.sample_rate, piece.pts = 8000, start
                out.mux(sound.encode(piece))
            out.mux(sound.encode())
    return path


def seed_clips(folder: str) -> list[bytes]:
    """The valid clips every mutation starts from (1-2 s, 64x48)."""
    os.makedirs(folder, exist_ok=True)
    recipes = {
        "faststart.mp4": dict(frames=CLIP_FPS),
        "moov_at_end_audio.mp4": dict(frames=2 * CLIP_FPS, faststart=False, audio=True),
        "stream.ts": dict(frames=CLIP_FPS, container="mpegts"),
        "cues.mkv": dict(frames=CLIP_FPS, container="matroska"),
    }
    return [_read(make_clip(os.path.join(folder, name), **kwargs)) for name, kwargs in recipes.items()]


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def top_level_boxes(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each top-level MP4 box, as far as the sizes make sense."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size = struct.unpack_from(">I", data, offset)[0]
        if size < 8 or offset + size > len(data):
            break
        boxes.append((offset, offset + size))
        offset += size
    return boxes


def child_boxes(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    boxes, offset = [], start
    while offset + 8 <= end:
        size = struct.unpack_from(">I", data, offset)[0]
        if size < 8 or offset + size > end:
            break
        boxes.append((offset, offset + size))
        offset += size
    return boxes


def _bit_flips(data: bytearray, rng: random.Random) -> str:
    count = rng.choice((1, 2, 8, 32))
    for _ in range(count):
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)
    return f"flip {count} bits"


def _byte_run(data: bytearray, rng: random.Random) -> str:
    length = min(len(data), rng.choice((4, 16, 64, 512)))
    start = rng.randrange(len(data) - length + 1)
    fill = rng.choice(("random", "zero", "ff"))
    run = (bytes(rng.randrange(256) for _ in range(length)) if fill == "random"
           else bytes(length) if fill == "zero" else b"\xff" * length)
    data[start:start + length] = run
    return f"overwrite {length} bytes at {start} with {fill}"


def _cut(data: bytearray, rng: random.Random) -> str:
    keep = rng.randrange(1, len(data))
    del data[keep:]
    return f"cut to {keep} bytes"


def _swap_boxes(data: bytearray, rng: random.Random) -> str:
    """Swap two sibling boxes: top level, or inside moov/trak (MP4 only)."""
    siblings = top_level_boxes(bytes(data))
    moov = next((b for b in siblings if data[b[0] + 4:b[0] + 8] == b"moov"), None)
    if moov is not None and rng.random() < 0.6:
        inner = child_boxes(bytes(data), moov[0] + 8, moov[1])
        trak = next((b for b in inner if data[b[0] + 4:b[0] + 8] == b"trak"), None)
        siblings = child_boxes(bytes(data), trak[0] + 8, trak[1]) if trak and rng.random() < 0.5 else inner
    if len(siblings) < 2:
        return _byte_run(data, rng)
    first, second = sorted(rng.sample(range(len(siblings)), 2))
    (a0, a1), (b0, b1) = siblings[first], siblings[second]
    data[a0:b1] = bytes(data[b0:b1]) + bytes(data[a1:b0]) + bytes(data[a0:a1])
    return f"swap boxes {bytes(data[a0 + 4:a0 + 8])!r} region {a0}-{b1}"


def _box_size(data: bytearray, rng: random.Random) -> str:
    """Corrupt a box size field: lies about where boxes end."""
    boxes = top_level_boxes(bytes(data))
    if not boxes:
        return _bit_flips(data, rng)
    start, end = rng.choice(boxes)
    inner = child_boxes(bytes(data), start + 8, end) or [(start, end)]
    target = rng.choice(inner)[0]
    value = rng.choice((0, 1, 7, 0xFFFFFFFF, rng.randrange(1 << 32)))
    struct.pack_into(">I", data, target, value)
    return f"box size at {target} := {value}"


MUTATORS: dict[str, Callable[[bytearray, random.Random], str]] = {
    "bit_flips": _bit_flips,
    "byte_run": _byte_run,
    "cut": _cut,
    "swap_boxes": _swap_boxes,
    "box_size": _box_size,
}


def mutate(seeds: list[bytes], seed: int, case: int) -> tuple[bytes, str]:
    """Case `case` of fuzz run `seed`: one damaged clip and what was done to it."""
    rng = random.Random(f"{seed}:{case}")
    base = rng.randrange(len(seeds))
    data = bytearray(seeds[base])
    steps = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        if len(data) < 2:
            break
        name = rng.choice(sorted(MUTATORS))
        steps.append(f"{name}: {MUTATORS[name](data, rng)}")
    return bytes(data), f"seed clip {base}; " + "; ".join(steps)


def cases(seeds: list[bytes], seed: int, count: int, start: int = 0,
          only: Optional[set[int]] = None) -> Iterator[tuple[int, bytes, str]]:
    for case in range(start, start + count):
        if only is None or case in only:
            data, recipe = mutate(seeds, seed, case)
            yield case, data, recipe
