"""Aligning two clips' hash series at an offset, and what the best alignment says.

Pure (no Beam). Offsets are in seconds: at offset d, second t of clip a is
second t + d of clip b (both counted from each clip's first sample).

Samples are time-stamped and two clips are rarely sampled at the same
instants: keyframes of a re-encoded or trimmed copy are where its encoder put
them. So one clip drives the comparison: the sparser one (larger median step
between samples). Each of its samples that falls inside the other clip's span
is paired with the other clip's sample nearest in time, if that one is within
`tolerance_s` (the larger of --dup-max-offset-s and half the denser clip's
step); the pair agrees when the hashes are at most --dup-max-bits apart. A
sample inside the other clip's sampled span with no partner close enough
counts as disagreeing.

A good alignment has at least --dup-min-fraction of the driver's samples in
the overlap agreeing, at least `dup_min_samples` of them, and at least that
many *distinctive*: the other clip's picture is at least `CLOSER_FACTOR`
times closer to the driver's sample at that moment than to any other sample
of the driver. A static scene agrees with itself at every moment, so its
samples single out no moment: two recordings of the same still view, or two
stretches of one static shot, are not copies however long they agree. A
copy's samples do single out their moment as soon as anything in the
picture moves (docs/duplicates.md measures this on real footage).
It then *covers* a clip when the agreeing stretch spans that clip's lit
samples (up to one driver step and the tolerance at each end):

- both clips covered: the same footage (`duplicate_of`);
- only the shorter covered: it is an excerpt of the longer (`excerpt_of`,
  `excerpt_offset_s` = where in the longer one it starts);
- neither (the clips only overlap at their ends): nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

import numpy as np

from schemas import QaOptions
from transforms.neardup.series import ClipSeries, nearest_index
from transforms.clip.qa.metrics import hamming_many

SAME, EXCERPT_A, EXCERPT_B, NOTHING = "same", "a_in_b", "b_in_a", "none"
# A pair is distinctive when its partner is this many times closer to it than to the driver's
# other samples: 2 keeps every different-scene pair of the real-footage evaluation out at
# fps:1 and fps:2 while 1.5 let one in, and 3 already lost a real low-bit-rate pair.
CLOSER_FACTOR = 2
DISTANCE_CELLS = 4_000_000   # partner-to-driver distances computed at once


@dataclasses.dataclass(frozen=True)
class Alignment:
    offset_s: float
    compared: int          # driver samples inside the other clip's span
    agreeing: int          # ... whose partner shows the same picture
    distinctive: int       # ... that single out their moment (see CLOSER_FACTOR)
    mean_bits: float       # mean Hamming distance of the agreeing pairs
    covers_a: bool
    covers_b: bool

    @property
    def fraction(self) -> float:
        return self.agreeing / self.compared if self.compared else 0.0

    def good(self, qa: QaOptions) -> bool:
        return (self.agreeing >= qa.dup_min_samples and self.distinctive >= qa.dup_min_samples
                and self.fraction >= qa.dup_min_fraction)

    def rank(self, qa: QaOptions) -> tuple:
        return (self.good(qa), self.agreeing, self.fraction, -self.mean_bits)


def _distinctive(driver_hashes: np.ndarray, index: np.ndarray, partner_hashes: np.ndarray,
                 bits: np.ndarray) -> int:
    """Agreeing pairs (driver sample `index`, its partner's hash, their distance `bits`) whose
    partner is CLOSER_FACTOR times closer to that sample than to any other driver sample."""
    count = 0
    rows_at_once = max(1, DISTANCE_CELLS // len(driver_hashes))
    for start in range(0, len(index), rows_at_once):
        rows = slice(start, start + rows_at_once)
        to_driver = hamming_many(partner_hashes[rows, None], driver_hashes[None, :]).astype(np.int64)
        to_driver[np.arange(to_driver.shape[0]), index[rows]] = 65  # the sample itself is not another
        nearest_other_bits = to_driver.min(axis=1)
        pair_bits = bits[rows].astype(np.int64)
        count += int(((pair_bits < nearest_other_bits) & (CLOSER_FACTOR * pair_bits <= nearest_other_bits)).sum())
    return count


def align(a: ClipSeries, b: ClipSeries, offset_s: float, qa: QaOptions) -> Alignment:
    driver_is_a = a.spacing_s >= b.spacing_s
    driver, other = (a, b) if driver_is_a else (b, a)
    shift = offset_s if driver_is_a else -offset_s          # driver time + shift = other time
    tolerance_s = max(qa.dup_max_offset_s, 0.5 * other.spacing_s * 1.01)
    mapped = driver.times_s + shift
    # Inside the other clip's sampled span: a driver sample past the other's last sample (an
    # excerpt's end falls between two of the driver's samples) has nothing to be compared with.
    inside = (mapped >= other.times_s[0] - tolerance_s) & (mapped <= other.times_s[-1] + tolerance_s)
    compared = int(inside.sum())
    if compared == 0:
        return Alignment(offset_s, 0, 0, 0, 0.0, False, False)
    partner = nearest_index(other.times_s, mapped[inside])
    close = np.abs(other.times_s[partner] - mapped[inside]) <= tolerance_s
    bits = hamming_many(driver.hashes[inside], other.hashes[partner])
    agree = close & (bits <= qa.dup_max_bits)
    agreeing = int(agree.sum())
    if agreeing == 0:
        return Alignment(offset_s, compared, 0, 0, 0.0, False, False)
    agree_times = driver.times_s[inside][agree]
    slack_s = driver.spacing_s + tolerance_s
    first_s, last_s = agree_times[0] - slack_s, agree_times[-1] + slack_s

    def covered(series: ClipSeries, to_driver_s: float) -> bool:
        """Does the agreeing stretch span the clip's lit samples (mapped into driver time)?"""
        return first_s <= series.times_s[0] + to_driver_s and series.times_s[-1] + to_driver_s <= last_s

    covers_driver = covered(driver, 0.0)
    covers_other = covered(other, -shift)
    return Alignment(offset_s=offset_s, compared=compared, agreeing=agreeing,
                     distinctive=_distinctive(driver.hashes, np.flatnonzero(inside)[agree],
                                              other.hashes[partner][agree], bits[agree]),
                     mean_bits=float(bits[agree].mean()),
                     covers_a=covers_driver if driver_is_a else covers_other,
                     covers_b=covers_other if driver_is_a else covers_driver)


def best_alignment(a: ClipSeries, b: ClipSeries, offsets_s: Iterable[float], qa: QaOptions) -> Optional[Alignment]:
    alignments = [align(a, b, offset, qa) for offset in offsets_s]
    return max(alignments, key=lambda al: al.rank(qa)) if alignments else None


def verdict(a: ClipSeries, b: ClipSeries, alignment: Alignment, qa: QaOptions) -> str:
    """SAME, EXCERPT_A (a is an excerpt of b), EXCERPT_B, or NOTHING."""
    if not alignment.good(qa):
        return NOTHING
    if alignment.covers_a and alignment.covers_b:
        return SAME
    if alignment.covers_a and a.duration_s < b.duration_s:
        return EXCERPT_A
    if alignment.covers_b and b.duration_s < a.duration_s:
        return EXCERPT_B
    return NOTHING


def judge(a: ClipSeries, b: ClipSeries, offsets_s: Iterable[float], qa: QaOptions) -> dict:
    """The verdict on a candidate pair at its best offset, as one matches row."""
    alignment = best_alignment(a, b, offsets_s, qa) or Alignment(0.0, 0, 0, 0, 0.0, False, False)
    return {"clip_a": a.clip_id, "clip_b": b.clip_id, "verdict": verdict(a, b, alignment, qa),
            "offset_s": alignment.offset_s, "compared": alignment.compared, "agreeing": alignment.agreeing,
            "distinctive": alignment.distinctive, "mean_bits": alignment.mean_bits,
            "duration_a_s": a.duration_s, "duration_b_s": b.duration_s}
