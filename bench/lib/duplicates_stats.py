"""What a duplicates run found, against the planted truth, and how close distinct clips come.

- `recall`: every planted copy / excerpt with the right original (and offset),
  and every other relation the index reports (a false pair);
- `distance_stats`: per-sample Hamming distances at the best alignment, for
  the planted copies, for distinct clips that became candidates, and for
  random pairs of distinct clips at their best whole-GOP shift; and the share
  of agreeing samples each gets (what --dup-min-fraction separates).
"""

from __future__ import annotations

import random
from typing import Optional

import numpy as np

from bench.lib.tables import read_index_table
from schemas import QaOptions
from transforms.neardup.align import align, best_alignment
from transforms.neardup.series import ClipSeries, nearest_index, series_from_table
from transforms.clip.qa.metrics import hamming_many

OFFSET_TOLERANCE_S = 0.5
BINS = [(0, 0), (1, 4), (5, 10), (11, 16), (17, 24), (25, 32), (33, 64)]


def recall(clips: list[dict], expected: dict[str, tuple]) -> dict:
    """expected: copy uri -> ("duplicate" | "excerpt", original uri, offset_s or None)."""
    uri_of = {row["clip_id"]: row["uri"] for row in clips}
    found, wrong, false_pairs = [], [], []
    for row in clips:
        got = None
        if row["duplicate_of"]:
            got = ("duplicate", uri_of.get(row["duplicate_of"]), None)
        elif row["excerpt_of"]:
            got = ("excerpt", uri_of.get(row["excerpt_of"]), row["excerpt_offset_s"])
        want = expected.get(row["uri"])
        if got is None:
            continue
        if want is None:
            false_pairs.append({"uri": row["uri"], "got": got})
        elif got[:2] == want[:2] and (want[2] is None or abs(got[2] - want[2]) <= OFFSET_TOLERANCE_S):
            found.append(row["uri"])
        else:
            wrong.append({"uri": row["uri"], "got": got, "want": want})
    missed = sorted(set(expected) - set(found) - {w["uri"] for w in wrong})
    kinds = {kind: sum(1 for uri in found if expected[uri][0] == kind) for kind in ("duplicate", "excerpt")}
    return {"planted": len(expected), "found": len(found), "found_by_kind": kinds, "found_uris": found, "wrong": wrong,
            "missed": missed, "false_pairs": len(false_pairs), "false_examples": false_pairs[:10]}


def _pair_bits(a: ClipSeries, b: ClipSeries, offset_s: float, qa: QaOptions) -> np.ndarray:
    """Hamming distances of the sample pairs `align` compares (a partner beyond the tolerance: 64)."""
    driver_is_a = a.spacing_s >= b.spacing_s
    driver, other = (a, b) if driver_is_a else (b, a)
    mapped = driver.times_s + (offset_s if driver_is_a else -offset_s)
    tolerance_s = max(qa.dup_max_offset_s, 0.5 * other.spacing_s * 1.01)
    inside = (mapped >= other.times_s[0] - tolerance_s) & (mapped <= other.times_s[-1] + tolerance_s)
    if not inside.any():
        return np.empty(0, np.int64)
    partner = nearest_index(other.times_s, mapped[inside])
    bits = hamming_many(driver.hashes[inside], other.hashes[partner]).astype(np.int64)
    return np.where(np.abs(other.times_s[partner] - mapped[inside]) <= tolerance_s, bits, 64)


def _histogram(bits: list[np.ndarray]) -> dict:
    values = np.concatenate(bits) if bits else np.empty(0, np.int64)
    total = max(len(values), 1)
    return {"sample_pairs": int(len(values)),
            **{f"{lo}-{hi}" if lo != hi else str(lo): round(float(((values >= lo) & (values <= hi)).sum()) / total, 4)
               for lo, hi in BINS}}


def _fractions(values: list[float]) -> dict:
    if not values:
        return {"pairs": 0}
    array = np.array(values)
    return {"pairs": len(values), "min": round(float(array.min()), 3), "median": round(float(np.median(array)), 3),
            "p99": round(float(np.percentile(array, 99)), 3), "max": round(float(array.max()), 3)}


def _agreeing(counts: list[int]) -> dict:
    """How many samples agree at the best alignment (--dup-min-samples needs 3)."""
    array = np.array(counts or [0])
    return {"max": int(array.max()), **{str(k): int((array == k).sum()) for k in range(3)},
            "3+": int((array >= 3).sum())}


def _best_shift(a: ClipSeries, b: ClipSeries, qa: QaOptions):
    step = max(a.spacing_s, b.spacing_s, 1.0)
    offsets = np.arange(-np.floor(a.duration_s / step), np.ceil(b.duration_s / step) + 1) * step
    return best_alignment(a, b, offsets, qa)


def distance_stats(index_dir: str, planted: dict[str, tuple], qa: QaOptions, random_pairs: int = 2000,
                   seed: int = 5) -> dict:
    clips = {r["uri"]: r for r in read_index_table(index_dir, "clips", ["clip_id", "uri"]).to_pylist()}
    samples = read_index_table(index_dir, "samples", ["clip_id", "pts_s", "interval_s", "dark_fraction", "phash"])
    series = {s.clip_id: s for s in series_from_table(samples, qa)}
    del samples
    evidence = read_index_table(index_dir, "matches").to_pylist()
    copy_ids = {clips[uri]["clip_id"] for uri in planted if uri in clips}
    copies_bits, copies_fraction, cand_bits, cand_fraction, cand_agree = [], [], [], [], []
    for row in evidence:
        a, b = series.get(row["clip_a"]), series.get(row["clip_b"])
        if a is None or b is None:
            continue
        bits = _pair_bits(a, b, row["offset_s"], qa)
        fraction = row["agreeing"] / max(row["compared"], 1)
        if row["clip_a"] in copy_ids or row["clip_b"] in copy_ids:
            if row["verdict"] != "none":
                copies_bits.append(bits)
                copies_fraction.append(fraction)
        else:
            cand_bits.append(bits)
            cand_fraction.append(fraction)
            cand_agree.append(row["agreeing"])
    rng = random.Random(seed)
    originals = [s for s in series.values() if s.clip_id not in copy_ids]
    random_bits, random_fraction, random_agree = [], [], []
    for _ in range(min(random_pairs, len(originals) // 2)):
        a, b = rng.sample(originals, 2)
        best = _best_shift(a, b, qa)
        random_bits.append(_pair_bits(a, b, best.offset_s, qa))
        random_fraction.append(best.fraction)
        random_agree.append(best.agreeing)
    return {"copies": {"bits": _histogram(copies_bits), "agreeing_fraction": _fractions(copies_fraction)},
            "distinct_candidates": {"bits": _histogram(cand_bits), "agreeing_fraction": _fractions(cand_fraction),
                                    "agreeing_samples": _agreeing(cand_agree)},
            "distinct_random_best_shift": {"bits": _histogram(random_bits),
                                           "agreeing_fraction": _fractions(random_fraction),
                                           "agreeing_samples": _agreeing(random_agree)}}


def evidence_summary(index_dir: str, new_ids: Optional[set] = None) -> dict:
    rows = read_index_table(index_dir, "matches").to_pylist()
    verdicts: dict = {}
    for row in rows:
        verdicts[row["verdict"]] = verdicts.get(row["verdict"], 0) + 1
    out = {"candidate_pairs": len(rows), "verdicts": verdicts}
    if new_ids is not None:
        out["pairs_without_a_new_clip"] = sum(1 for r in rows if r["clip_a"] not in new_ids
                                              and r["clip_b"] not in new_ids)
    return out


__all__ = ["align", "distance_stats", "evidence_summary", "recall"]
