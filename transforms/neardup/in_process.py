"""Near-duplicate matching in one process, for small tables (tests, notebooks, bench statistics).

The index runs the same functions as a Beam stage on workers
(transforms.beam.match_footage) and writes the result with transforms.neardup.apply; this
module chains them in memory: samples -> series -> band records -> votes ->
candidate offsets -> verdicts -> duplicate_of / excerpt_of.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from schemas import MATCHES_SCHEMA, QaOptions
from transforms.neardup.align import judge
from transforms.neardup.apply import relations_from_matches, resolve
from transforms.neardup.buckets import BANDS, compare_shard, pick_offsets, records, split_by_shard
from transforms.neardup.series import ClipSeries, series_from_table


def match_series(series: list[ClipSeries], qa: QaOptions) -> list[dict]:
    """Matches rows (verdicts on every candidate pair, `none` included) among these series."""
    if not series:
        return []
    parts = [records(s) for s in series]
    votes = []
    for band in range(BANDS):  # each band's records have their own layout
        shards = np.concatenate([p[band][0] for p in parts])
        recs = np.concatenate([p[band][1] for p in parts])
        votes += [compare_shard(shard, group, qa.dup_max_bits) for shard, group in split_by_shard(shards, recs)]
    by_key = {s.key: s for s in series}
    return [judge(by_key[a], by_key[b], offsets, qa)
            for a, b, offsets in pick_offsets(np.concatenate(votes), qa.dup_max_offset_s)]


def find_matches(clips: pa.Table, samples: pa.Table, qa: QaOptions) -> dict[str, tuple]:
    """clip_id -> (duplicate_of, excerpt_of, excerpt_offset_s) of every clip in `clips`.

    `clips` needs clip_id, uri, sha256, width, height, size_bytes, duration_s;
    `samples` the samples table's clip_id, pts_s, interval_s, dark_fraction, phash.
    """
    rows = {row["clip_id"]: {**row, "duplicate_of": None, "excerpt_of": None, "excerpt_offset_s": None}
            for row in clips.to_pylist()}
    matches = pa.Table.from_pylist(match_series(list(series_from_table(samples, qa)), qa), schema=MATCHES_SCHEMA)
    same, excerpts = relations_from_matches(matches)
    return resolve(rows, same, excerpts, kept_from=None)


def find_duplicates(clips: pa.Table, samples: pa.Table, qa: QaOptions) -> dict[str, str]:
    """clip_id of each duplicate -> clip_id of the original it copies."""
    return {clip: found[0] for clip, found in find_matches(clips, samples, qa).items() if found[0]}
