"""run.json: counts and totals computed from the Parquet that was written.

Nothing here trusts the pipeline's own counters: the summary is read back
from the night's files, and the every-clip-accounted invariant is checked on them.
"""

from __future__ import annotations

import collections
import math

import pyarrow.compute as pc

from schemas import CLIPS_SCHEMA, ERRORS_SCHEMA
from transforms.storage.parquet import count_rows, read_table


class InvariantBroken(Exception):
    """The written snapshot would lose or double-count an input: never commit it."""


INSUFFICIENT_LISTED = 50


def insufficient_samples(clips, min_samples: int) -> dict:
    """Clips whose pictures were sampled (--decode) too sparsely to judge or to compare with others
    (fewer than --dup-min-samples samples: a long-GOP clip under --decode keyframes)."""
    sampled = clips.column("qa_sampled_frames")
    few = pc.fill_null(pc.less(sampled, min_samples), False)
    uris = sorted(clips.filter(few).column("uri").to_pylist())
    return {"count": len(uris), "uris": uris[:INSUFFICIENT_LISTED], "min_samples": min_samples,
            "sampled_clips": len(sampled) - sampled.null_count,
            "sampled_frames": pc.sum(sampled).as_py() or 0}


def summarize_snapshot(snapshot, matched_uris: set[str], run_id: str, from_checkpoint: int = 0,
                       min_samples: int = 3) -> dict:
    """Counts and totals of a night (a storage.snapshots Draft or Snapshot); `from_checkpoint`: clips
    resumed from an interrupted run; `min_samples`: fewer QA samples than this is
    `qa_insufficient_samples`."""
    clips = read_table(snapshot.files("clips"), CLIPS_SCHEMA,
                       ["uri", "duration_s", "size_bytes", "frame_count", "run_id", "truncated",
                        "duplicate_of", "excerpt_of", "qa_sampled_frames"])
    errors = read_table(snapshot.files("errors"), ERRORS_SCHEMA, ["uri", "error_kind"])
    frame_rows = count_rows(snapshot.files("frames"))

    clip_uris = clips.column("uri").to_pylist()
    error_uris = errors.column("uri").to_pylist()
    seen = collections.Counter(clip_uris + error_uris)
    doubled = [uri for uri, n in seen.items() if n > 1]
    lost = matched_uris - set(seen)
    extra = set(seen) - matched_uris
    if doubled or lost or extra:
        raise InvariantBroken(
            f"snapshot does not account for every input exactly once: {len(lost)} lost, "
            f"{len(doubled)} doubled, {len(extra)} not matched (e.g. "
            f"{(sorted(lost) + doubled + sorted(extra))[0]!r})")
    frame_count = pc.sum(clips.column("frame_count")).as_py() or 0
    if frame_count != frame_rows:
        raise InvariantBroken(f"frames table holds {frame_rows} rows but clips count {frame_count} frames")

    total_duration_s = _exact_sum(clips.column("duration_s"))
    duplicate_s = _exact_sum(clips.filter(pc.is_valid(clips.column("duplicate_of"))).column("duration_s"))
    excerpt_s = _exact_sum(clips.filter(pc.is_valid(clips.column("excerpt_of"))).column("duration_s"))
    this_run = pc.equal(clips.column("run_id"), run_id)
    reindexed_clips = pc.sum(this_run).as_py() or 0
    return {
        "matched": len(matched_uris),
        "indexed": clips.num_rows,
        "errors": errors.num_rows,
        "reindexed": reindexed_clips + errors.num_rows,
        "carried_forward": clips.num_rows - reindexed_clips - from_checkpoint,
        "from_checkpoint": from_checkpoint,
        "truncated": pc.sum(clips.column("truncated")).as_py() or 0,
        "duplicates": clips.num_rows - clips.column("duplicate_of").null_count,
        "duplicate_hours": duplicate_s / 3600.0,  # in total_hours here; reconcile's totals exclude them
        "excerpts": clips.num_rows - clips.column("excerpt_of").null_count,
        "excerpt_hours": excerpt_s / 3600.0,
        "total_frames": frame_rows,
        "total_duration_s": total_duration_s,
        "total_hours": total_duration_s / 3600.0,
        "total_bytes": pc.sum(clips.column("size_bytes")).as_py() or 0,
        "qa_insufficient_samples": insufficient_samples(clips, min_samples),
        "error_uris": error_uris,
        "error_kinds": dict(sorted(collections.Counter(errors.column("error_kind").to_pylist()).items())),
    }


def _exact_sum(column) -> float:
    """The correctly rounded sum, whatever the row order: a runner that writes the same rows
    in other files (Flink, Spark, more workers) gets the same totals to the last bit."""
    return math.fsum(value for value in column.to_pylist() if value is not None)
