"""One clip's perceptual-hash series: what near-duplicate matching knows about a clip.

Pure (no Beam). A series is the clip's lit samples (dark ones are left out:
every black picture looks alike) in time order, with times in seconds since
the clip's first sample, so two clips are compared on their own timelines and
an alignment offset says where one sits in the other. Built from the samples
rows a run has just made (one Arrow batch per clip) or from a stored samples
table (carried-forward clips, read back on workers).

Each sample also carries its context: the hashes of the clip's samples about
`CONTEXT_LAG_S` before and after it. Matching uses them only for pictures
that very many samples share (a static scene, or synthetic footage that reuses
pictures): two such samples are a candidate pair only when the pictures
around them agree too (transforms.neardup.buckets).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Iterator, Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import QaOptions

CONTEXT_LAG_S = 10.0     # the context of a sample: the clip's samples this long before and after
NO_CONTEXT = np.int64(0)  # sentinel: no sample near t +- CONTEXT_LAG_S (a real hash of 0 is ignored too)
SERIES_COLUMNS = ["clip_id", "pts_s", "interval_s", "dark_fraction", "phash"]


def clip_key(clip_id: str) -> int:
    """A 64-bit number for a clip_id (clipindex's ids are 16 hex digits: exactly their value)."""
    try:
        if len(clip_id) == 16:
            return int(clip_id, 16)
    except ValueError:
        pass
    return int.from_bytes(hashlib.blake2b(clip_id.encode("utf-8"), digest_size=8).digest(), "big")


@dataclasses.dataclass
class ClipSeries:
    clip_id: str
    times_s: np.ndarray    # float64, seconds since the clip's first sample (lit samples only)
    hashes: np.ndarray     # int64 perceptual hashes of those samples
    duration_s: float      # first sample to the end of the clip
    spacing_s: float       # median step between lit samples (how densely the clip is sampled)
    query: bool            # compared against the whole archive in this run (new or changed)

    @property
    def key(self) -> int:
        return clip_key(self.clip_id)

    def contexts(self) -> tuple[np.ndarray, np.ndarray]:
        """(hash about CONTEXT_LAG_S after, hash about CONTEXT_LAG_S before) each sample, or NO_CONTEXT."""
        tolerance_s = max(0.5, 0.5 * self.spacing_s)
        return (_nearest_hash(self.times_s, self.hashes, self.times_s + CONTEXT_LAG_S, tolerance_s),
                _nearest_hash(self.times_s, self.hashes, self.times_s - CONTEXT_LAG_S, tolerance_s))


def _nearest_hash(times_s: np.ndarray, hashes: np.ndarray, targets_s: np.ndarray,
                  tolerance_s: float) -> np.ndarray:
    index = nearest_index(times_s, targets_s)
    close = np.abs(times_s[index] - targets_s) <= tolerance_s
    return np.where(close, hashes[index], NO_CONTEXT)


def nearest_index(times_s: np.ndarray, targets_s: np.ndarray) -> np.ndarray:
    """For each target, the index of the nearest time in the sorted `times_s` (non-empty)."""
    right = np.clip(np.searchsorted(times_s, targets_s), 1, max(len(times_s) - 1, 1))
    left = right - 1
    if len(times_s) == 1:
        return np.zeros(len(targets_s), np.int64)
    return np.where(targets_s - times_s[left] <= times_s[right] - targets_s, left, right)


def series_from_arrays(clip_id: str, pts_s: np.ndarray, interval_s: np.ndarray, dark_fraction: np.ndarray,
                       phash: np.ndarray, qa: QaOptions, query: bool) -> Optional[ClipSeries]:
    """A clip's series from its samples (any order), or None when too few are lit to be judged."""
    order = np.argsort(pts_s, kind="stable")
    pts_s, interval_s = pts_s[order], interval_s[order]
    lit = dark_fraction[order] < qa.dark_fraction
    if int(lit.sum()) < qa.dup_min_samples:
        return None
    times = pts_s[lit] - pts_s[0]
    steps = np.diff(times)
    return ClipSeries(clip_id=clip_id, times_s=times.astype(np.float64), hashes=phash[order][lit].astype(np.int64),
                      duration_s=float(pts_s[-1] + interval_s[-1] - pts_s[0]),
                      spacing_s=float(np.median(steps)) if steps.size else 0.0, query=query)


def series_from_batch(batch: pa.RecordBatch, qa: QaOptions, query: bool = True) -> Optional[ClipSeries]:
    """The series of the one clip whose samples a run emitted as one batch."""
    if batch.num_rows == 0:
        return None
    return series_from_arrays(batch.column("clip_id")[0].as_py(),
                              *(_floats(batch.column(name)) for name in ("pts_s", "interval_s", "dark_fraction")),
                              batch.column("phash").to_numpy(zero_copy_only=False), qa, query)


def _floats(column) -> np.ndarray:
    return pc.fill_null(column, 0.0).to_numpy(zero_copy_only=False).astype(np.float64)


def series_from_table(samples: pa.Table, qa: QaOptions, query_ids=None,
                      exclude_ids=frozenset()) -> Iterator[ClipSeries]:
    """Every clip's series in a samples table; `query_ids` None means every clip is a query."""
    samples = samples.sort_by([("clip_id", "ascending"), ("pts_s", "ascending")])
    ids = samples.column("clip_id").to_numpy(zero_copy_only=False)
    if not len(ids):
        return
    columns = [_floats(samples.column(name)) for name in ("pts_s", "interval_s", "dark_fraction")]
    hashes = samples.column("phash").to_numpy(zero_copy_only=False)
    bounds = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    for begin, end in zip(np.r_[0, bounds], np.r_[bounds, len(ids)]):
        clip_id = ids[begin]
        if clip_id in exclude_ids:
            continue
        query = query_ids is None or clip_id in query_ids
        series = series_from_arrays(clip_id, *(c[begin:end] for c in columns), hashes[begin:end], qa, query)
        if series is not None:
            yield series
