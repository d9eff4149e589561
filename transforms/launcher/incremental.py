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
import json
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
#   2: `container` names the format (mp4, mov, m4v, 3gp, webm, matroska, ...), not FFmpeg's
#      demuxer family (`mov,mp4,m4a,3gp,3g2,mj2` for every MP4 and MOV)
ROW_DEFINITIONS_VERSION = 2
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
    # What differs from the last run's options key: [{"option", "from", "to"}]; a full re-read
    # names it, so "options changed" is never the whole story.
    key_changes: list[dict] = dataclasses.field(default_factory=list)
    reread: list[str] = dataclasses.field(default_factory=list)  # unchanged files read again (full re-read)

    def changes(self, limit: int = 50) -> dict:
        def listed(uris: list[str], most: int = limit) -> dict:
            return {"count": len(uris), "uris": sorted(uris)[:most]}
        removed = {**listed(self.removed, REMOVED_LISTED), "by_folder": removed_by_folder(self.removed)}
        return {"new": listed(self.new), "changed": listed(self.changed),
                "retried_errors": listed(self.retried), "removed": removed,
                "unchanged": len(self.carry_clip_ids) + len(self.reread), "reread_unchanged": len(self.reread),
                "full_reindex_reason": self.full_reason, "full_reindex_changes": self.key_changes}


def _flat(key: dict, prefix: str = "") -> dict:
    out = {}
    for name, value in key.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def key_changes(previous_key: Optional[dict], key: dict) -> list[dict]:
    """Each option or version that differs between two options keys, with both values (None: not set)."""
    before, after = _flat(previous_key or {}), _flat(key)
    return [{"option": name, "from": before.get(name), "to": after.get(name)}
            for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)]


def describe_key_changes(changes: list[dict]) -> str:
    """`decode changed from keyframes to none; device_from_path no longer set (was '/(?P<...>)/')`."""
    def shown(value) -> str:
        return json.dumps(value) if isinstance(value, str) else str(value)
    parts = []
    for change in changes:
        name, old, new = change["option"], change["from"], change["to"]
        if old is None:
            parts.append(f"{name} set to {shown(new)} (was not set)")
        elif new is None:
            parts.append(f"{name} no longer set (was {shown(old)})")
        else:
            parts.append(f"{name} changed from {shown(old)} to {shown(new)}")
    return "; ".join(parts)


def plan_run(matched: list[FileInfo], previous: Optional[Snapshot], options_key: dict) -> Plan:
    """Decide what to read, given the live night (or None).

    New, changed and removed always count files (what changed on disk), also when
    everything is read again: a full re-read lists the unchanged files it reads in `reread`.
    """
    if previous is None:
        return Plan(to_read=list(matched), carry_clip_ids=set(), new=[m.uri for m in matched],
                    full_reason="no previous snapshot")
    clips = read_table(previous.files("clips"), CLIPS_SCHEMA,
                       ["uri", "clip_id", "size_bytes", "mtime_s", "generation"]).to_pylist()
    errors = read_table(previous.files("errors"), ERRORS_SCHEMA, ["uri"]).column("uri").to_pylist()
    known = {row["uri"]: row for row in clips}
    failed = set(errors)
    matched_uris = {m.uri for m in matched}
    plan = Plan(to_read=[], carry_clip_ids=set(), live_inputs=len(set(known) | failed),
                removed=[uri for uri in (set(known) | failed) if uri not in matched_uris])
    previous_key = previous.run.get("options_key")
    if previous_key != options_key:
        # Rows made under other options or older definitions are read again, not carried.
        plan.key_changes = key_changes(previous_key, options_key)
        plan.full_reason = describe_key_changes(plan.key_changes) or "the last run's options are unknown"
    for info in matched:
        row = known.get(info.uri)
        if row is not None and same_file(info, row["size_bytes"], row["mtime_s"], row["generation"]):
            if plan.full_reason:
                plan.reread.append(info.uri)
                plan.to_read.append(info)
            else:
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
