"""What a run's near-duplicate matching compares (launcher side, before the pipeline).

The clips read in this run are the queries: each is compared with the whole
archive. Carried-forward clips are compared only as partners, from the
samples the last snapshot stored; a carried clip is queried again when its
recorded partner (`duplicate_of`, `excerpt_of`) was read again or is gone,
and every clip is queried again when the matching definitions (thresholds,
`MATCHING_VERSION`) changed since the last run. The matching key is written
into run.json so the next run can tell.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from schemas import CLIPS_SCHEMA, IndexConfig, QaOptions
from transforms.storage import fs as storage
from transforms.storage.archive_root import clip_id_for
from transforms.storage.parquet import read_table
from transforms.storage.snapshots import MATCHES, Draft, Snapshot

# 1: launcher-side buckets; 2: the Beam stage with offsets and excerpts; 3: only samples inside
# the other clip's sampled span are compared; 4: distinctive samples instead of distinct pictures,
# and only peak offset bins are candidates
MATCHING_VERSION = 4
MATCHES_FILE = "matches.parquet"  # the night's file of the matches Delta table (DIR/matches)
SEMI_JOIN_MAX_FRACTION = 0.25      # above this share of queries, filtering stored records saves nothing


@dataclasses.dataclass(frozen=True)
class MatchPlan:
    """What one run compares; made by the launcher (plan_matching below)."""

    matches_path: str                     # where the verdicts go (this run's file of DIR/matches)
    stored_files: tuple[str, ...] = ()    # samples files of the last night
    exclude_ids: frozenset = frozenset()  # stored clips read again in this run (their rows are stale)
    requery_ids: frozenset = frozenset()  # stored clips compared again (their partner changed)
    requery_all: bool = False             # matching definitions changed: every stored clip again
    semi_join: bool = True                # drop stored records that share no band value with a query
    query_files: tuple[str, ...] = ()     # samples files of clips resumed from a checkpoint: all queries


class ReadPlan(Protocol):
    """What matching needs of the launcher's incremental plan (transforms.launcher.incremental.Plan)."""

    to_read: list
    removed: list
    carry_clip_ids: set
    full_reason: Optional[str]


def matching_key(qa: QaOptions) -> dict:
    """The definitions a stored verdict depends on."""
    return {"version": MATCHING_VERSION, "dup_max_bits": qa.dup_max_bits,
            "dup_min_fraction": qa.dup_min_fraction, "dup_max_offset_s": qa.dup_max_offset_s,
            "dup_min_samples": qa.dup_min_samples, "dark_luma": qa.dark_luma, "dark_fraction": qa.dark_fraction}


def _previous_key(previous: Snapshot) -> Optional[dict]:
    return previous.run.get("matching")


def _partners_gone(previous: Snapshot, gone: set[str]) -> frozenset:
    """Carried clips whose recorded duplicate/excerpt partner is read again or removed."""
    if not gone:
        return frozenset()
    clips = read_table(previous.files("clips"), CLIPS_SCHEMA, ["clip_id", "duplicate_of", "excerpt_of"])
    value_set = pa.array(sorted(gone), pa.string())
    hit = pc.or_(pc.fill_null(pc.is_in(clips.column("duplicate_of"), value_set=value_set), False),
                 pc.fill_null(pc.is_in(clips.column("excerpt_of"), value_set=value_set), False))
    return frozenset(clips.filter(hit).column("clip_id").to_pylist()) - gone


def plan_matching(draft: Draft, previous: Optional[Snapshot], plan: ReadPlan, config: IndexConfig,
                  resumed_files: tuple = ()) -> Optional[MatchPlan]:
    """The matching this run does, or None without decoded samples (`--decode none`).

    `resumed_files`: samples files (in the new snapshot) of the clips a checkpoint gave this
    run: queries like the clips the pipeline reads.
    """
    if config.decode == "none":
        return None
    matches_path = storage.join(draft.folder(MATCHES), MATCHES_FILE)
    if previous is None or plan.full_reason:  # everything is read again: all clips are queries
        return MatchPlan(matches_path=matches_path, query_files=tuple(resumed_files))
    root = config.archive_root
    read_again = {clip_id_for(info.uri, root) for info in plan.to_read}
    gone = read_again | {clip_id_for(uri, root) for uri in plan.removed}
    requery_all = _previous_key(previous) != matching_key(config.qa)
    requery = frozenset() if requery_all else _partners_gone(previous, gone)
    archive = len(plan.carry_clip_ids) + len(plan.to_read)
    queries = len(plan.to_read) + len(requery)
    return MatchPlan(matches_path=matches_path,
                     stored_files=tuple(previous.files("samples")),
                     exclude_ids=frozenset(gone), requery_ids=requery, requery_all=requery_all,
                     semi_join=queries <= SEMI_JOIN_MAX_FRACTION * max(archive, 1),
                     query_files=tuple(resumed_files))


def has_work(match: Optional[MatchPlan]) -> bool:
    """Must the pipeline run for matching alone (no clip to read)?"""
    if match is None:
        return False
    return bool(match.query_files) or (bool(match.stored_files) and (match.requery_all or bool(match.requery_ids)))


def kept_relations(match: Optional[MatchPlan], plan: ReadPlan) -> Optional[frozenset]:
    """Carried clips whose stored relations stand (not compared again in this run); None: none."""
    if match is None or match.requery_all or not match.stored_files:
        return None
    return frozenset(plan.carry_clip_ids - match.requery_ids)


def query_count(match: Optional[MatchPlan], plan: ReadPlan) -> int:
    """Clips compared with the whole archive in this run."""
    if match is None:
        return 0
    if match.requery_all and match.stored_files:
        return len(plan.to_read) + len(plan.carry_clip_ids)
    return len(plan.to_read) + len(match.requery_ids)
