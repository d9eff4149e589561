"""Which clips are copies: duplicates (the same footage) and excerpts (a trimmed part).

- duplicates: the same sha256, or `duplicate_of` set by the index (the same
  picture re-encoded, transforms/neardup/in_process.py). Clips so linked form a
  group; its original is the copy the manifest lists (then the one the index
  calls original, then the earliest `recorded_at`, then the first uri), every
  other member a `duplicate` of it.
- excerpts: `excerpt_of` set by the index (a trimmed copy of a longer clip,
  at `excerpt_offset_s`); absent columns read as null. A clip that is both is
  a duplicate.

Neither kind adds to the totals: its footage is already counted once, in
its original. Groups are found with numpy (label propagation over the
edges), not a Python dict per clip.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ORIGINAL, DUPLICATE, EXCERPT = 0, 1, 2


@dataclasses.dataclass
class Copies:
    kind: np.ndarray        # per clip: ORIGINAL, DUPLICATE or EXCERPT
    of: np.ndarray          # per clip: the clip row it copies, or -1 (an excerpt of a clip not indexed)
    same_bytes: np.ndarray  # per clip: a duplicate with the same sha256 as its original

    @property
    def originals(self) -> np.ndarray:
        return self.kind == ORIGINAL


def _rows_of(ids: pa.Array, clip_ids: pa.Array) -> np.ndarray:
    return pc.index_in(ids, value_set=clip_ids).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _components(count: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the edges (a[k], b[k]): each row's smallest member."""
    label = np.arange(count)
    while True:
        before = label.copy()
        np.minimum.at(label, a, label[b])
        np.minimum.at(label, b, label[a])
        label = label[label]  # pointer jumping: long chains collapse quickly
        if np.array_equal(label, before):
            return label


def find_copies(clips: pa.Table, listed: np.ndarray) -> Copies:
    """listed: per clip, the manifest lists it (matched to a manifest row)."""
    count = clips.num_rows
    clip_ids = clips.column("clip_id").combine_chunks()
    sha = clips.column("sha256").combine_chunks()
    codes = pc.dictionary_encode(sha).indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    has_sha = codes >= 0
    first_of_code = np.full(int(codes.max(initial=-1)) + 1, -1, dtype=np.int64)
    first_of_code[codes[has_sha][::-1]] = np.flatnonzero(has_sha)[::-1]
    dup_target = _rows_of(clips.column("duplicate_of").combine_chunks(), clip_ids)
    a = np.concatenate([np.flatnonzero(has_sha), np.flatnonzero(dup_target >= 0)])
    b = np.concatenate([first_of_code[codes[has_sha]], dup_target[dup_target >= 0]])
    label = _components(count, a, b)
    uri_rank = np.empty(count, dtype=np.int64)
    uri_rank[pc.sort_indices(clips.column("uri")).to_numpy()] = np.arange(count)
    index_calls_copy = clips.column("duplicate_of").is_valid().to_numpy(zero_copy_only=False)
    recorded_rank = np.zeros(count)
    if "recorded_at" in clips.column_names:
        recorded = pc.cast(clips.column("recorded_at"), pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)
        recorded_rank = np.where(np.isnan(recorded), np.inf, recorded)
    order = np.lexsort((uri_rank, recorded_rank, index_calls_copy, ~listed, label))
    starts = np.r_[True, label[order][1:] != label[order][:-1]][:count]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(count), 0)) if count else starts
    original = np.empty(count, dtype=np.int64)
    original[order] = order[group_start]  # each group's first in that order
    kind = np.where(original != np.arange(count), DUPLICATE, ORIGINAL)
    of = np.where(kind == DUPLICATE, original, -1)
    same_bytes = (kind == DUPLICATE) & has_sha & (codes == codes[np.maximum(of, 0)])
    excerpt = clips.column("excerpt_of").is_valid().to_numpy(zero_copy_only=False) & (kind == ORIGINAL)
    kind = np.where(excerpt, EXCERPT, kind)
    of = np.where(excerpt, _rows_of(clips.column("excerpt_of").combine_chunks(), clip_ids), of)
    return Copies(kind=kind, of=of, same_bytes=same_bytes)


def duplicates_sentence(duplicates: int, duplicate_hours: float, included: bool,
                        excerpts: int = 0, excerpt_hours: float = 0.0) -> str:
    """Why the index's and reconcile's totals differ when there are copies ('' when none).

    The index counts every readable clip; reconcile counts each footage once, so
    copies (same sha256, or with --decode the same picture re-encoded) and excerpts
    (a trimmed stretch of another clip) are left out of its headline
    videos/hours/bytes/frames.
    """
    parts = []
    if duplicates:
        parts.append(f"{duplicates} duplicate clip{'' if duplicates == 1 else 's'} ({duplicate_hours:.3f} h)")
    if excerpts:
        parts.append(f"{excerpts} excerpt{'' if excerpts == 1 else 's'} ({excerpt_hours:.3f} h)")
    if not parts:
        return ""
    what = " and ".join(parts)
    if included:
        return f"{what} included; reconcile's totals exclude them (each footage counted once)"
    return f"totals exclude {what}: copies of another clip's footage are counted once"


def insufficient_sentence(insufficient: dict) -> str:
    """Clips sampled too sparsely to judge (summary and report; '' when none)."""
    count = insufficient.get("count", 0)
    if not count:
        return ""
    clips = "clip" if count == 1 else "clips"
    return (f"{count} {clips} had fewer than {insufficient.get('min_samples', 3)} picture samples, too few to "
            f"judge or to compare with other clips (qa_insufficient_samples; --decode fps:1 would sample "
            f"{'it' if count == 1 else 'them'} every second)")
