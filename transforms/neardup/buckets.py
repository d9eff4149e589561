"""Candidate pairs for near-duplicate matching: locality-sensitive buckets of samples.

Pure numpy (no Beam); transforms.beam.match_footage runs these functions on workers.

Each lit sample's 64-bit hash is cut into four 16-bit bands; a sample is
one record per band, and records are grouped by (band, band value): samples
whose hashes are at most --dup-max-bits apart share at least one band value
more often than not, and a copy has many samples. Groups travel as shards
(the band and the top `SHARD_BITS` of its value), each a numpy array, so the
runner moves thousands of elements, not millions.

Inside a shard nothing is dropped for being large. Records with the *same*
hash are one picture; pairs come from

- two different pictures with the same band value whose hashes are close
  (found in the lowest band they share, so once): every member of one against
  every member of the other;
- the members of one picture (in band 0 only, since identical hashes share
  every band; only band 0's records carry context): all pairs, unless the picture is *popular* (more than
  `POPULAR_PICTURE` samples show it: a static scene, or synthetic footage that
  reuses pictures). Then its members are sub-keyed by a band of their context
  (the clip's picture `CONTEXT_LAG_S` later, and earlier): only samples whose
  surroundings also agree pair up, so the work grows with the number of real
  matches, not with the square of the picture's popularity.

Only pairs with at least one query sample (a clip new or changed in this
run) and two different clips are kept: a nightly run compares new clips with
the whole archive, not every pair again. Each pair is a vote for an offset
between two clips; `pick_offsets` turns votes into candidate offsets that
transforms.neardup.align checks on the full series.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from transforms.neardup.series import NO_CONTEXT, ClipSeries

BANDS = 4
BAND_BITS = 16
SHARD_BITS = 6                # shards per band: 2**SHARD_BITS
POPULAR_PICTURE = 16          # a picture shown by more samples than this pairs by context only
MIN_VOTES = 2                 # votes (an offset bin and its neighbours) that make a candidate
MAX_OFFSETS = 4               # offsets per candidate pair checked on the full series
PAIR_SHARDS = 64
CHUNK_PAIRS = 4_000_000       # index pairs materialised at once

# A record per lit sample and band (the band value is the hash's, not stored). Only band 0
# carries the context hashes: same-picture pairs, the ones that need context, are made there.
LEAN = np.dtype([("clip", "<u8"), ("t", "<f4"), ("h", "<i8"), ("query", "?")])
RECORD = np.dtype([("clip", "<u8"), ("t", "<f4"), ("h", "<i8"), ("query", "?"), ("fwd", "<i8"), ("bwd", "<i8")])
VOTE = np.dtype([("a", "<u8"), ("b", "<u8"), ("ta", "<f8"), ("tb", "<f8"), ("bits", "<u1")])


def band_values(hashes: np.ndarray, band: int) -> np.ndarray:
    unsigned = np.asarray(hashes, np.int64).view(np.uint64)
    return ((unsigned >> np.uint64(BAND_BITS * band)) & np.uint64(0xFFFF)).astype(np.uint16)


def _bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(np.bitwise_xor(a, b).view(np.uint64))


def in_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """values in a sorted unique array (np.isin re-sorts its second argument on every call)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(values), bool)
    at = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[at] == values


def shard_of(band: int, values: np.ndarray) -> np.ndarray:
    return (band << SHARD_BITS) | (values.astype(np.int64) >> (BAND_BITS - SHARD_BITS))


def records(series: ClipSeries) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per band: (shard of each record, records), one record per lit sample."""
    out = []
    for band in range(BANDS):
        recs = np.empty(len(series.hashes), RECORD if band == 0 else LEAN)
        recs["clip"], recs["t"], recs["h"], recs["query"] = series.key, series.times_s, series.hashes, series.query
        if band == 0:
            recs["fwd"], recs["bwd"] = series.contexts()
        out.append((shard_of(band, band_values(series.hashes, band)), recs))
    return out


def split_by_shard(shards: np.ndarray, recs: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    order = np.argsort(shards, kind="stable")
    shards, recs = shards[order], recs[order]
    bounds = np.flatnonzero(shards[1:] != shards[:-1]) + 1
    for begin, end in zip(np.r_[0, bounds], np.r_[bounds, len(shards)]):
        yield int(shards[begin]), recs[begin:end]


def equal_key_pairs(keys: np.ndarray, chunk_pairs: int = CHUNK_PAIRS) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every pair (i, j) of positions with keys[i] == keys[j], each once, in bounded chunks."""
    if len(keys) < 2:
        return
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    lengths = np.diff(np.r_[starts, len(ordered)])
    keep = lengths > 1
    starts, lengths = starts[keep], lengths[keep]
    pairs = lengths * (lengths - 1) // 2
    group_start = 0
    while group_start < len(starts):
        if pairs[group_start] > chunk_pairs:  # one huge run: row by row
            for row in range(starts[group_start], starts[group_start] + lengths[group_start] - 1):
                partners = np.arange(row + 1, starts[group_start] + lengths[group_start])
                yield np.full(len(partners), order[row]), order[partners]
            group_start += 1
            continue
        group_end = group_start + max(1, int(np.searchsorted(np.cumsum(pairs[group_start:]), chunk_pairs,
                                                             side="right")))
        run_starts, run_lengths = starts[group_start:group_end], lengths[group_start:group_end]
        offsets = np.cumsum(run_lengths) - run_lengths
        position = np.repeat(run_starts, run_lengths) + np.arange(run_lengths.sum()) - np.repeat(offsets,
                                                                                               run_lengths)
        after = np.repeat(run_starts + run_lengths, run_lengths) - position - 1
        first = np.repeat(position, after)
        second = first + 1 + np.arange(after.sum()) - np.repeat(np.cumsum(after) - after, after)
        yield order[first], order[second]
        group_start = group_end


def _cross(pic_a: np.ndarray, pic_b: np.ndarray, starts: np.ndarray, counts: np.ndarray,
           members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Member pairs of picture pairs: every member of a with every member of b."""
    sizes = counts[pic_a] * counts[pic_b]
    pair = np.repeat(np.arange(len(pic_a)), sizes)
    k = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    width = counts[pic_b][pair]
    return members[starts[pic_a][pair] + k // width], members[starts[pic_b][pair] + k % width]


def _context_pairs(recs: np.ndarray, index: np.ndarray, group: np.ndarray,
                   max_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs among recs[index] in the same group whose context (after or before) also agrees."""
    found_i, found_j = [], []
    for side in ("fwd", "bwd"):
        context = recs[side][index]
        has = context != NO_CONTEXT
        for band in range(BANDS):
            keys = (group[has].astype(np.int64) << 16) | band_values(context[has], band)
            for i, j in equal_key_pairs(keys):
                i, j = index[has][i], index[has][j]
                close = _bits(recs[side][i], recs[side][j]) <= max_bits
                found_i.append(i[close])
                found_j.append(j[close])
    if not found_i:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = np.unique(np.stack([np.concatenate(found_i), np.concatenate(found_j)]), axis=1)
    return pairs[0], pairs[1]


def _votes(recs: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    keep = (recs["clip"][i] != recs["clip"][j]) & (recs["query"][i] | recs["query"][j])
    i, j = i[keep], j[keep]
    swap = recs["clip"][i] > recs["clip"][j]
    first, second = np.where(swap, j, i), np.where(swap, i, j)
    votes = np.empty(len(first), VOTE)
    votes["a"], votes["b"] = recs["clip"][first], recs["clip"][second]
    votes["ta"], votes["tb"] = recs["t"][first], recs["t"][second]
    votes["bits"] = _bits(recs["h"][first], recs["h"][second])
    return votes


def compare_shard(shard: int, recs: np.ndarray, max_bits: int) -> np.ndarray:
    """Votes (sample pairs of two clips showing the same picture) from one shard's records."""
    band = shard >> SHARD_BITS
    pictures, inverse, counts = np.unique(recs["h"], return_inverse=True, return_counts=True)
    members = np.argsort(inverse, kind="stable")
    starts = np.cumsum(counts) - counts
    popular = counts > POPULAR_PICTURE
    votes = []
    for pa, pb in equal_key_pairs(band_values(pictures, band)):
        keep = _bits(pictures[pa], pictures[pb]) <= max_bits
        for lower in range(band):  # found in a lower band already
            keep &= band_values(pictures[pa], lower) != band_values(pictures[pb], lower)
        pa, pb = pa[keep], pb[keep]
        both = popular[pa] & popular[pb]
        votes.append(_votes(recs, *_cross(pa[~both], pb[~both], starts, counts, members)))
        if "fwd" not in recs.dtype.names:  # no context outside band 0: every member pair
            votes.append(_votes(recs, *_cross(pa[both], pb[both], starts, counts, members)))
            continue
        for p, q in zip(pa[both], pb[both]):
            index = np.r_[members[starts[p]:starts[p] + counts[p]], members[starts[q]:starts[q] + counts[q]]]
            i, j = _context_pairs(recs, index, np.zeros(len(index), np.int64), max_bits)
            crossing = inverse[i] != inverse[j]
            votes.append(_votes(recs, i[crossing], j[crossing]))
    if band == 0:  # the same picture: identical hashes share every band, so once here
        shared = np.flatnonzero(counts[inverse] > 1)
        plain = shared[~popular[inverse[shared]]]
        for i, j in equal_key_pairs(inverse[plain]):
            votes.append(_votes(recs, plain[i], plain[j]))
        crowded = shared[popular[inverse[shared]]]
        votes.append(_votes(recs, *_context_pairs(recs, crowded, inverse[crowded], max_bits)))
    return np.concatenate(votes) if votes else np.empty(0, VOTE)


def pair_shard(votes: np.ndarray) -> np.ndarray:
    return ((votes["a"] ^ (votes["b"] * np.uint64(0x9E3779B97F4A7C15))) % np.uint64(PAIR_SHARDS)).astype(np.int64)


def pick_offsets(votes: np.ndarray, bin_s: float) -> Iterator[tuple[int, int, list[float]]]:
    """(clip a, clip b, offsets to check) for every pair with enough votes at one offset.

    An offset is b's time minus a's time of a voting sample pair; votes are
    binned (`bin_s` wide) and a bin counts its neighbours' votes too, so an
    offset that straddles a bin edge is not split in two; only bins with no
    fuller neighbour are offered.
    """
    if votes.size == 0:
        return
    pairs, pair_index = np.unique(np.stack([votes["a"], votes["b"]]), axis=1, return_inverse=True)
    offsets = votes["tb"] - votes["ta"]
    bins = np.round(offsets / bin_s).astype(np.int64)
    keys = pair_index.reshape(-1).astype(np.int64) * (1 << 32) + (bins + (1 << 31))
    unique_keys, key_index, counts = np.unique(keys, return_inverse=True, return_counts=True)
    mean_offset = np.bincount(key_index.reshape(-1), weights=offsets) / counts
    neighbours = counts.copy()
    # Only a bin holding at least as many votes as each neighbour offers its offset: a nearly
    # empty bin beside a full one would otherwise outrank it on the full one's votes and offer
    # its own stray offset (a still scene votes for every offset; its copy's true offset is a peak).
    peak = np.ones(len(counts), bool)
    for step in (-1, 1):
        at = np.searchsorted(unique_keys, unique_keys + step)
        found = (at < len(unique_keys)) & (unique_keys[np.minimum(at, len(unique_keys) - 1)] == unique_keys + step)
        neighbour_counts = np.where(found, counts[np.minimum(at, len(unique_keys) - 1)], 0)
        neighbours += neighbour_counts
        peak &= counts >= neighbour_counts
    strong = np.flatnonzero((neighbours >= MIN_VOTES) & peak)
    if strong.size == 0:
        return
    pair_of = unique_keys[strong] >> 32
    order = np.lexsort((-neighbours[strong], pair_of))
    strong, pair_of = strong[order], pair_of[order]
    bounds = np.flatnonzero(pair_of[1:] != pair_of[:-1]) + 1
    for begin, end in zip(np.r_[0, bounds], np.r_[bounds, len(pair_of)]):
        a, b = pairs[:, pair_of[begin]]
        # Sample times travel as float32: a millisecond is the precision worth keeping.
        yield int(a), int(b), [round(float(x), 3) for x in mean_offset[strong[begin:end][:MAX_OFFSETS]]]
