"""Duplicates: clips that are the same footage as another, filled into `duplicate_of`.

Runs in the launcher after the pipeline (and after carrying unchanged rows
forward), before the commit, over the whole snapshot: a duplicate is a
relation between clips, so it needs every clip's rows, including clips read
in earlier runs. Two kinds of evidence:

- identical bytes: the same sha256 (with --hash sha256);
- the same picture re-encoded (another size or bit rate): with --decode, the
  clips' sequences of 64-bit perceptual hashes agree over time. Samples are
  aligned by time since each clip's first sample (nearest within
  `dup_max_offset_s`, which tolerates small offsets), a pair agrees when its
  hashes are at most `dup_max_bits` apart, and two clips are the same footage
  when at least `dup_min_fraction` of the comparable samples of *each* clip
  agree (so a short clip is not the duplicate of a longer one that merely
  contains it). Dark samples are left out: every black picture looks alike.

Candidate pairs come from locality-sensitive buckets (each hash split into
four 16-bit bands; clips sharing a band value in several samples are
compared), so the cost grows with the number of clips, not its square.

In each group of same footage the original is the best copy: most pixels,
then highest bit rate, then the first uri; every other clip gets
`duplicate_of` = the original's clip_id.
"""

from __future__ import annotations

import collections
import itertools
from typing import Iterable

import numpy as np
import pyarrow as pa

from schemas import CLIPS_SCHEMA, SAMPLES_SCHEMA, QaOptions
from transforms import storage
from transforms.frame_metrics import hamming_many
from transforms.tables_io import read_table, table_files, write_table

BANDS = 4                 # 16-bit bands per 64-bit hash
MAX_BUCKET_CLIPS = 64     # a band value this common carries no information (flat pictures)
MIN_SHARED_BUCKETS = 2    # candidate pairs share at least this many (sample, band) values


class _Groups:
    """Union-find over clip ids."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        parent = self._parent.setdefault(item, item)
        if parent != item:
            parent = self._parent[item] = self.find(parent)
        return parent

    def union(self, a: str, b: str) -> None:
        self._parent[self.find(a)] = self.find(b)

    def groups(self) -> list[list[str]]:
        members = collections.defaultdict(list)
        for item in self._parent:
            members[self.find(item)].append(item)
        return [m for m in members.values() if len(m) > 1]


def _hash_series(samples: pa.Table, qa: QaOptions) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """clip_id -> (seconds since the clip's first sample, phashes) of its lit samples, by time."""
    samples = samples.sort_by([("clip_id", "ascending"), ("pts_s", "ascending")])
    ids = samples.column("clip_id").to_numpy(zero_copy_only=False)
    pts = samples.column("pts_s").to_numpy()
    hashes = samples.column("phash").to_numpy()
    lit = samples.column("dark_fraction").to_numpy() < qa.dark_fraction
    series = {}
    bounds = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    for begin, end in zip(np.r_[0, bounds], np.r_[bounds, len(ids)]):
        keep = lit[begin:end]
        if keep.sum() >= qa.dup_min_samples:
            series[ids[begin]] = ((pts[begin:end] - pts[begin])[keep], hashes[begin:end][keep])
    return series


def _candidate_pairs(series: dict[str, tuple[np.ndarray, np.ndarray]]) -> Iterable[tuple[str, str]]:
    buckets = collections.defaultdict(set)
    for clip_id, (_, hashes) in series.items():
        unsigned = hashes.view(np.uint64)
        for band in range(BANDS):
            for value in np.unique((unsigned >> np.uint64(16 * band)) & np.uint64(0xFFFF)):
                buckets[(band, int(value))].add(clip_id)
    shared = collections.Counter()
    for members in buckets.values():
        if 1 < len(members) <= MAX_BUCKET_CLIPS:
            shared.update(itertools.combinations(sorted(members), 2))
    return [pair for pair, count in shared.items() if count >= MIN_SHARED_BUCKETS]


def _agreeing_fraction(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                       qa: QaOptions) -> float:
    """Share of a's samples whose time-nearest sample in b shows the same picture."""
    times_a, hashes_a = a
    times_b, hashes_b = b
    right = np.clip(np.searchsorted(times_b, times_a), 1, len(times_b) - 1)
    nearest = np.where(times_a - times_b[right - 1] <= times_b[right] - times_a, right - 1, right)
    close = np.abs(times_b[nearest] - times_a) <= qa.dup_max_offset_s
    agree = close & (hamming_many(hashes_a, hashes_b[nearest]) <= qa.dup_max_bits)
    return float(agree.sum()) / len(times_a)


def same_footage(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], qa: QaOptions) -> bool:
    return (_agreeing_fraction(a, b, qa) >= qa.dup_min_fraction
            and _agreeing_fraction(b, a, qa) >= qa.dup_min_fraction)


def find_duplicates(clips: pa.Table, samples: pa.Table, qa: QaOptions) -> dict[str, str]:
    """clip_id of each duplicate -> clip_id of the original it copies."""
    groups = _Groups()
    by_hash = collections.defaultdict(list)
    for clip_id, sha256 in zip(clips.column("clip_id").to_pylist(), clips.column("sha256").to_pylist()):
        if sha256:
            by_hash[sha256].append(clip_id)
    for same in by_hash.values():
        for other in same[1:]:
            groups.union(same[0], other)
    series = _hash_series(samples, qa)
    for a, b in _candidate_pairs(series):
        if same_footage(series[a], series[b], qa):
            groups.union(a, b)

    rows = {row["clip_id"]: row for row in clips.select(
        ["clip_id", "uri", "width", "height", "size_bytes", "duration_s"]).to_pylist()}

    def rank(clip_id: str) -> tuple:
        row = rows[clip_id]
        bit_rate = row["size_bytes"] / row["duration_s"] if row["duration_s"] else 0.0
        return (-(row["width"] * row["height"]), -bit_rate, row["uri"])

    duplicate_of = {}
    for members in groups.groups():
        members = [m for m in members if m in rows]
        original = min(members, key=rank)
        duplicate_of.update({m: original for m in members if m != original})
    return duplicate_of


def mark_duplicates(snapshot: str, qa: QaOptions) -> int:
    """Fill `duplicate_of` in the snapshot's clips table; returns how many clips are duplicates.

    The clips files are rewritten only when a value changes (carried-forward
    files are hard links into the previous snapshot: they are replaced, never
    modified in place).
    """
    clips_dir = storage.join(snapshot, "clips")
    clips = read_table(clips_dir, CLIPS_SCHEMA)
    samples = read_table(storage.join(snapshot, "samples"), SAMPLES_SCHEMA,
                         ["clip_id", "pts_s", "dark_fraction", "phash"])
    duplicate_of = find_duplicates(clips, samples, qa)
    wanted = pa.array([duplicate_of.get(c) for c in clips.column("clip_id").to_pylist()], pa.string())
    if wanted.to_pylist() == clips.column("duplicate_of").to_pylist():
        return len(duplicate_of)
    old_files = table_files(clips_dir)
    updated = clips.set_column(clips.schema.get_field_index("duplicate_of"), "duplicate_of", wanted)
    write_table(updated.cast(CLIPS_SCHEMA), storage.join(clips_dir, "duplicates-marked.parquet"))
    for path in old_files:
        if path.rsplit("/", 1)[-1] != "duplicates-marked.parquet":
            storage.delete_file(path)
    return len(duplicate_of)



