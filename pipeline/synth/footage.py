"""The synthetic footage: which picture each one-GOP segment shows, and which
sequence of segments each clip plays.

Pictures are crisp mosaics of random tiles panning across the frame (sharp,
always moving, distinct per segment); the injected conditions are a dim,
almost black picture (covered lens), a still picture (frozen) and blurred
mosaics.

Every clip is distinct footage at any corpus size. A pool of P one-GOP
segments (P prime) is encoded once; clip number n plays the quadratic
sequence `segment(g) = (a_n * g**2 + c_n) mod P` over its GOPs g, with a
different (a_n, c_n) per clip. Shifting such a sequence by k GOPs gives
`a*g**2 + 2ak*g + ...`, so two different classes (a, c) agree on at most two
GOPs at any alignment (their difference is a non-zero polynomial of degree
two or less): no clip is a copy, shifted copy or excerpt of another, while
segments themselves repeat across clips (about total GOPs / P times). Within
a clip no segment repeats while the clip is shorter than P / 2 GOPs. Pool
pictures are drawn so that their perceptual hashes are at least
`MIN_POOL_BITS` apart, so different segments never look alike.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Iterator

import cv2
import numpy as np

from transforms.clip.qa.metrics import analysis_size, hamming_many, phash

MIN_POOL = 17                 # never fewer segments than this
REUSE_PER_SEGMENT = 50        # aim: each pool segment appears in about this many GOPs...
POOL_PIXEL_FRAMES = 10 ** 9   # ...but encode at most this many pixels x frames for the pool
MIN_POOL_BITS = 16            # pool keyframes' perceptual hashes at least this far apart
CONDITIONS = ("black", "frozen", "blur")
_CONDITION_SEED = 2 ** 40     # mosaic seeds of the condition segments (pool seeds stay below)


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


def next_prime(n: int) -> int:
    while not _is_prime(n):
        n += 1
    return n


def pool_size(clips: int, total_gops: int, longest_gops: int, gop: int, width: int, height: int) -> int:
    """P: enough classes for every clip, no repeat inside a clip where affordable, modest reuse."""
    classes = math.isqrt(clips) + 2                       # P * (P - 1) >= clips
    wanted = max(total_gops // REUSE_PER_SEGMENT, 2 * longest_gops + 1)
    affordable = POOL_PIXEL_FRAMES // (gop * width * height)
    return next_prime(max(MIN_POOL, classes, min(wanted, affordable)))


def _mosaic(seed: int, width: int, height: int) -> np.ndarray:
    """A crisp mosaic of random colour tiles: sharp edges (not blurry), distinct per seed."""
    rng = np.random.default_rng(seed)
    cols = 10
    rows = max(2, round(cols * height / width))
    tiles = rng.integers(48, 232, size=(rows, cols, 3), dtype=np.uint8)
    return cv2.resize(tiles, (width, height), interpolation=cv2.INTER_NEAREST)


def _keyframe_hash(seed: int, width: int, height: int) -> int:
    gray = cv2.cvtColor(_mosaic(seed, width, height), cv2.COLOR_RGB2GRAY)
    return phash(cv2.resize(gray, analysis_size(width, height), interpolation=cv2.INTER_AREA))


def distinct_seeds(count: int, base_seed: int, width: int, height: int) -> list[int]:
    """`count` mosaic seeds whose keyframes' hashes are pairwise >= MIN_POOL_BITS apart."""
    seeds: list[int] = []
    hashes = np.empty(count, np.int64)
    candidate = (base_seed % 2 ** 31) * 1_000_003
    while len(seeds) < count:
        candidate += 1
        value = _keyframe_hash(candidate, width, height)
        kept = len(seeds)
        if kept and hamming_many(hashes[:kept], np.full(kept, value, np.int64)).min() < MIN_POOL_BITS:
            continue
        hashes[kept] = value
        seeds.append(candidate)
    return seeds


@dataclasses.dataclass(frozen=True)
class Footage:
    """The pool of segments a corpus is made of: P ordinary ones, then the condition segments."""

    pool: int                 # P, prime
    seeds: tuple[int, ...]    # mosaic seed of each ordinary segment

    @property
    def black(self) -> int:
        return self.pool

    @property
    def frozen(self) -> int:
        return self.pool + 1

    @property
    def blur(self) -> tuple[int, int]:
        # Two alternating segments, so even keyframe-only sampling sees a moving blurred picture.
        return self.pool + 2, self.pool + 3

    @property
    def segment_count(self) -> int:
        return self.pool + 4

    def condition_segments(self, kind: str) -> tuple[int, ...]:
        return {"black": (self.black,), "frozen": (self.frozen,), "blur": self.blur}[kind]

    def segment_frames(self, segment: int, gop: int, width: int, height: int) -> Iterator[np.ndarray]:
        """The pictures of one one-GOP segment: moving footage, or an injected condition."""
        if segment == self.black:  # lens covered: a dim, almost black picture
            dim = (_mosaic(_CONDITION_SEED, width, height) // 24).astype(np.uint8)
            yield from (dim for _ in range(gop))
            return
        if segment == self.frozen:  # the same picture for the whole GOP
            still = _mosaic(_CONDITION_SEED + 1, width, height)
            yield from (still for _ in range(gop))
            return
        seed = self.seeds[segment] if segment < self.pool else _CONDITION_SEED + segment - self.pool
        mosaic = _mosaic(seed, width, height)
        for index in range(gop):
            phase = index / max(gop, 1)
            # Pan across the mosaic so consecutive samples always differ.
            picture = np.roll(mosaic, (int(phase * height / 3), int(phase * width / 2)), axis=(0, 1))
            if segment in self.blur:
                picture = cv2.GaussianBlur(picture, (0, 0), sigmaX=max(2.0, width / 40))
            yield picture


def make_footage(pool: int, seed: int, width: int, height: int) -> Footage:
    return Footage(pool=pool, seeds=tuple(distinct_seeds(pool, seed, width, height)))


def clip_classes(clips: int, pool: int, seed: int) -> list[tuple[int, int]]:
    """A different (a, c) per clip, a in 1..P-1 and c in 0..P-1, in a seeded order."""
    rng = random.Random(f"footage-{seed}")
    return [(1 + k // pool, k % pool) for k in rng.sample(range(pool * (pool - 1)), clips)]


def footage_line(cls: tuple[int, int], pool: int, gops: int) -> tuple[int, ...]:
    a, c = cls
    return tuple((a * g * g + c) % pool for g in range(gops))
