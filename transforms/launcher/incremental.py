"""Nightly runs re-read only what changed: the plan, and carrying rows forward.

A clip is unchanged when the same uri has the same size and mtime (or, on
GCS, the same object generation) as in the live night, and the run's
options that shape the rows are the same. Everything else is read: new and
changed inputs and every input that failed last time (it may be fixed now).

The options key (pipeline.options.options_key) also holds the row definitions
version below and the FFmpeg version: rows computed by older code or another
FFmpeg are read again rather than carried forward next to new ones.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc

from schemas import CLIPS_SCHEMA, ERRORS_SCHEMA, FileInfo
from transforms.storage import fs as storage
from transforms.launcher.removal_guard import removed_by_folder
from transforms.storage.snapshots import CARRIED_TABLES, Draft, Snapshot, same_file
from transforms.storage.parquet import read_file, read_table, write_table

# Bump when the code that computes a row's values changes what a value means (a frame
# count rule, a truncation or gap definition, how QA seconds are summed): the next run
# re-reads every clip instead of carrying rows of the old definition forward. Column
# additions or type changes bump schemas.SCHEMA_VERSION instead. History:
#   1: first versioned definitions (QA seconds summed from the stored float32 sample values)
ROW_DEFINITIONS_VERSION = 1
# Removed inputs are listed in full (up to this many): their rows leave the index with this run,
# and runs/<run_id>.json is kept forever as the record of what went.
REMOVED_LISTED = 100_000


@dataclasses.dataclass
class Plan:
    to_read: list[FileInfo]
    carry_clip_ids: set[str]
    new: list[str] = dataclasses.field(default_factory=list)
    changed: list[str] = dataclasses.field(default_factory=list)
    retried: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)
    full_reason: Optional[str] = None  # why everything is re-read, if it is
    live_inputs: int = 0               # inputs (clips and errors) of the live snapshot

    def changes(self, limit: int = 50) -> dict:
        def listed(uris: list[str], most: int = limit) -> dict:
            return {"count": len(uris), "uris": sorted(uris)[:most]}
        removed = {**listed(self.removed, REMOVED_LISTED), "by_folder": removed_by_folder(self.removed)}
        return {"new": listed(self.new), "changed": listed(self.changed),
                "retried_errors": listed(self.retried), "removed": removed,
                "unchanged": len(self.carry_clip_ids), "full_reindex_reason": self.full_reason}


def plan_run(matched: list[FileInfo], previous: Optional[Snapshot], options_key: dict) -> Plan:
    """Decide what to read, given the live night (or None)."""
    everything = Plan(to_read=list(matched), carry_clip_ids=set(), new=[m.uri for m in matched])
    if previous is None:
        everything.full_reason = "no previous snapshot"
        return everything
    clips = read_table(previous.files("clips"), CLIPS_SCHEMA,
                       ["uri", "clip_id", "size_bytes", "mtime_s", "generation"]).to_pylist()
    errors = read_table(previous.files("errors"), ERRORS_SCHEMA, ["uri"]).column("uri").to_pylist()
    known = {row["uri"]: row for row in clips}
    failed = set(errors)
    matched_uris = {m.uri for m in matched}
    removed = [uri for uri in (set(known) | failed) if uri not in matched_uris]
    live_inputs = len(set(known) | failed)
    previous_key = previous.run.get("options_key")
    if previous_key != options_key:
        # Rows made under other options or older definitions are read again, not carried.
        everything.full_reason = "options, definitions or versions changed since the last run"
        everything.removed, everything.live_inputs = removed, live_inputs
        return everything

    plan = Plan(to_read=[], carry_clip_ids=set(), removed=removed, live_inputs=live_inputs)
    for info in matched:
        row = known.get(info.uri)
        if row is not None and same_file(info, row["size_bytes"], row["mtime_s"], row["generation"]):
            plan.carry_clip_ids.add(row["clip_id"])
            continue
        plan.to_read.append(info)
        if row is not None:
            plan.changed.append(info.uri)
        elif info.uri in failed:
            plan.retried.append(info.uri)
        else:
            plan.new.append(info.uri)
    return plan


def carry_forward(previous: Snapshot, draft: Draft, carry_ids: set[str], run_id: str) -> None:
    """Carry the rows of unchanged clips from the live night into the new one.

    A file whose clips are all unchanged stays in the table as it is (by reference: the
    commit neither adds nor removes it); a file that mixes kept and dropped clips is
    filtered into a new file of this run (the commit removes the old one, which older
    versions still read). Files without a kept clip are left out (removed by the commit).
    """
    if not carry_ids:
        return
    keep = pa.array(sorted(carry_ids), pa.string())
    for table in CARRIED_TABLES:
        storage.makedirs(draft.folder(table))
        for number, path in enumerate(previous.files(table)):
            ids = read_file(path, ["clip_id"]).column("clip_id")
            kept = pc.is_in(ids, value_set=keep)
            kept_count = pc.sum(kept).as_py() or 0
            if kept_count == 0:
                continue
            if kept_count == len(ids):
                draft.keep(table, path)
            else:
                data = read_file(path).filter(kept)
                write_table(data, storage.join(draft.folder(table), f"{run_id}-carried-{number:05d}.parquet"))
