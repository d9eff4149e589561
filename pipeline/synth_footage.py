"""The synthetic footage: which picture each one-GOP segment shows, and which
sequence of segments each clip plays.

Pictures are crisp mosaics of random tiles panning across the frame (sharp,
always moving, distinct per variant); the injected conditions are a dim,
almost black picture (covered lens), a still picture (frozen) and blurred
mosaics.
"""

from __future__ import annotations

import random

import cv2
import numpy as np

# Ordinary footage: a prime number of one-GOP segments, so the straight-line
# sequences below (variant = offset + step * gop mod 17) of two clips agree on at
# most one GOP in 17: different clips are never perceptual duplicates.
SEGMENT_VARIANTS = 17
# Injected conditions, one GOP each. Blur alternates two segments so that even
# keyframe-only sampling sees a moving (not frozen) blurred picture.
BLACK, FROZEN, BLUR, BLUR_B = (SEGMENT_VARIANTS + i for i in range(4))
ALL_SEGMENTS = SEGMENT_VARIANTS + 4
CONDITION_SEGMENTS = {"black": (BLACK,), "frozen": (FROZEN,), "blur": (BLUR, BLUR_B)}


def _mosaic(seed: int, width: int, height: int) -> np.ndarray:
    """A crisp mosaic of random colour tiles: sharp edges (not blurry), distinct per seed."""
    rng = np.random.default_rng(seed)
    cols = 10
    rows = max(2, round(cols * height / width))
    tiles = rng.integers(48, 232, size=(rows, cols, 3), dtype=np.uint8)
    return cv2.resize(tiles, (width, height), interpolation=cv2.INTER_NEAREST)


def variant_frame(variant: int, index: int, gop: int, width: int, height: int) -> np.ndarray:
    """One picture of a one-GOP segment: moving footage, or an injected condition."""
    if variant == BLACK:  # lens covered: a dim, almost black picture
        return (_mosaic(variant, width, height) // 24).astype(np.uint8)
    if variant == FROZEN:  # the same picture for the whole GOP
        return _mosaic(variant, width, height)
    picture = _mosaic(variant, width, height)
    phase = index / max(gop, 1)
    # Pan across the mosaic so consecutive samples always differ.
    picture = np.roll(picture, (int(phase * height / 3), int(phase * width / 2)), axis=(0, 1))
    if variant in (BLUR, BLUR_B):
        picture = cv2.GaussianBlur(picture, (0, 0), sigmaX=max(2.0, width / 40))
    return picture


def footage_lines(seed: int) -> list[tuple[int, int]]:
    """Every (offset, step) line over the variants, in a seeded order (step 0 would freeze)."""
    lines = [(offset, step) for step in range(1, SEGMENT_VARIANTS) for offset in range(SEGMENT_VARIANTS)]
    random.Random(f"footage-{seed}").shuffle(lines)
    return lines


def footage_line(line: tuple[int, int], gops: int) -> tuple[int, ...]:
    offset, step = line
    return tuple((offset + step * gop) % SEGMENT_VARIANTS for gop in range(gops))
