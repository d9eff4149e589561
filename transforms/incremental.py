"""Nightly runs re-read only what changed: the plan, and carrying rows forward.

A clip is unchanged when the same uri has the same size and mtime (or, on
GCS, the same object generation) as in the live snapshot, and the run's
options that shape the rows are the same. Everything else is read: new and
changed inputs and every input that failed last time (it may be fixed now).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc

from schemas import CLIPS_SCHEMA, ERRORS_SCHEMA, FileInfo
from transforms import storage
from transforms.tables_io import read_file, read_table, table_files, write_table

CARRIED_TABLES = ("clips", "frames", "samples")  # errors are always retried, never carried


@dataclasses.dataclass
class Plan:
    to_read: list[FileInfo]
    carry_clip_ids: set[str]
    new: list[str] = dataclasses.field(default_factory=list)
    changed: list[str] = dataclasses.field(default_factory=list)
    retried: list[str] = dataclasses.field(default_factory=list)
    removed: list[str] = dataclasses.field(default_factory=list)
    full_reason: Optional[str] = None  # why everything is re-read, if it is

    def changes(self, limit: int = 50) -> dict:
        def listed(uris: list[str]) -> dict:
            return {"count": len(uris), "uris": sorted(uris)[:limit]}
        return {"new": listed(self.new), "changed": listed(self.changed),
                "retried_errors": listed(self.retried), "removed": listed(self.removed),
                "unchanged": len(self.carry_clip_ids), "full_reindex_reason": self.full_reason}


def same_file(info: FileInfo, size, mtime, generation) -> bool:
    if info.generation is not None or generation is not None:
        return info.generation == generation and info.size_bytes == size
    return info.size_bytes == size and info.mtime_s == mtime


def plan_run(matched: list[FileInfo], previous: Optional[str], options_key: dict) -> Plan:
    """Decide what to read, given the live snapshot directory (or None)."""
    everything = Plan(to_read=list(matched), carry_clip_ids=set(), new=[m.uri for m in matched])
    if previous is None:
        everything.full_reason = "no previous snapshot"
        return everything
    previous_key = json.loads(storage.read_text(storage.join(previous, "run.json"))).get("options_key")
    if previous_key != options_key:
        everything.full_reason = "options or schema version changed since the last run"
        return everything

    clips = read_table(storage.join(previous, "clips"), CLIPS_SCHEMA,
                       ["uri", "clip_id", "size_bytes", "mtime_s", "generation"]).to_pylist()
    errors = read_table(storage.join(previous, "errors"), ERRORS_SCHEMA, ["uri"]).column("uri").to_pylist()
    known = {row["uri"]: row for row in clips}
    failed = set(errors)
    plan = Plan(to_read=[], carry_clip_ids=set())
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
    matched_uris = {m.uri for m in matched}
    plan.removed = [uri for uri in (set(known) | failed) if uri not in matched_uris]
    return plan


def carry_forward(previous: str, target: str, carry_ids: set[str], run_id: str) -> None:
    """Copy the rows of unchanged clips from the live snapshot into the new one.

    A file whose clips are all unchanged is hard-linked (no bytes copied); a
    file that mixes kept and dropped clips is filtered and rewritten.
    """
    if not carry_ids:
        return
    keep = pa.array(sorted(carry_ids), pa.string())
    for table in CARRIED_TABLES:
        out_dir = storage.join(target, table)
        storage.makedirs(out_dir)
        for number, path in enumerate(table_files(storage.join(previous, table))):
            ids = read_file(path, ["clip_id"]).column("clip_id")
            kept = pc.is_in(ids, value_set=keep)
            kept_count = pc.sum(kept).as_py() or 0
            if kept_count == 0:
                continue
            if kept_count == len(ids):
                storage.link_or_copy(path, storage.join(out_dir, path.rsplit("/", 1)[-1]))
            else:
                data = read_file(path).filter(kept)
                write_table(data, storage.join(out_dir, f"{run_id}-carried-{number:05d}.parquet"))
    _carry_thumbnails(previous, target, carry_ids)


def _carry_thumbnails(previous: str, target: str, carry_ids: set[str]) -> None:
    source_dir = storage.join(previous, "thumbs")
    files = storage.list_files(source_dir, ".jpg")
    if not files:
        return
    storage.makedirs(storage.join(target, "thumbs"))
    for path in files:
        name = path.rsplit("/", 1)[-1]
        if name[: -len(".jpg")] in carry_ids:
            storage.link_or_copy(path, storage.join(target, "thumbs", name))

