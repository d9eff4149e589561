"""What reconcile reads from an index snapshot: clips and errors, as one side to match.

Columns that an older index (or another branch's) does not have are read as
nulls: `device_id` (schema 2), `excerpt_of` / `excerpt_offset_s` (written by
the duplicates stage once it finds excerpts), the QA columns. Reading goes
through Arrow and never turns rows into Python objects.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms.storage import fs as storage
from transforms.clip.devices import devices_from_uris
from transforms.storage.snapshots import Snapshot

CLIP_COLUMNS = {
    "clip_id": pa.string(), "uri": pa.string(), "size_bytes": pa.int64(), "sha256": pa.string(),
    "duration_s": pa.float64(), "container_duration_s": pa.float64(), "truncated": pa.bool_(),
    "recorded_at": pa.timestamp("us", tz="UTC"), "frame_count": pa.int64(), "duplicate_of": pa.string(),
    "device_id": pa.string(), "excerpt_of": pa.string(), "excerpt_offset_s": pa.float64(),
    "qa_sampled_frames": pa.int64(), "qa_dark_s": pa.float64(), "qa_frozen_s": pa.float64(),
    "qa_blurry_s": pa.float64(),
}
ERROR_COLUMNS = {"uri": pa.string(), "clip_id": pa.string(), "error_kind": pa.string(), "message": pa.string()}


@dataclasses.dataclass
class IndexSide:
    run: dict
    clips: pa.Table         # CLIP_COLUMNS, device_id filled in
    errors: pa.Table        # ERROR_COLUMNS + device_id
    snapshot: str           # the index DIR (its thumbs/ folder holds the contact sheets)

    @property
    def rows(self) -> int:
        """Index rows: readable clips, then unreadable files."""
        return self.clips.num_rows + self.errors.num_rows

    def column(self, name: str) -> pa.Array:
        """A column over all index rows (clips first); nulls where errors have none."""
        clips = self.clips.column(name).combine_chunks()
        if name in self.errors.column_names:
            errors = self.errors.column(name).combine_chunks()
        else:
            errors = pa.nulls(self.errors.num_rows, clips.type)
        return pa.concat_arrays([clips, errors.cast(clips.type)])


def _read_lenient(files: list[str], wanted: dict[str, pa.DataType]) -> pa.Table:
    """The wanted columns of every file; a column a file lacks is null."""
    schema = pa.schema(list(wanted.items()))
    parts = []
    for path in files:
        with storage.open_read(path) as handle:
            parquet = pq.ParquetFile(handle)
            present = [name for name in wanted if name in parquet.schema_arrow.names]
            part = parquet.read(columns=present)
        columns = [part.column(name).cast(kind) if name in present else pa.nulls(part.num_rows, kind)
                   for name, kind in wanted.items()]
        if part.num_rows:
            parts.append(pa.Table.from_arrays(columns, schema=schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _fill_devices(table: pa.Table, pattern: Optional[str], override: bool) -> pa.Table:
    """device_id from the uri: everywhere when the pattern was given now, else where it is null."""
    if not pattern:
        return table
    found = pa.array(devices_from_uris(table.column("uri").to_pylist(), pattern), pa.string())
    current = table.column("device_id").combine_chunks() if "device_id" in table.column_names else None
    devices = found if override or current is None else pc.coalesce(current, found)
    if "device_id" in table.column_names:
        return table.set_column(table.column_names.index("device_id"), "device_id", devices)
    return table.append_column("device_id", devices)


def read_index_side(snapshot: Snapshot, device_from_path: Optional[str] = None) -> IndexSide:
    """Clips and errors of a night (each table at the version its run.json names); device_from_path
    (reconcile's flag) overrides the stored devices, else the pattern the index ran with fills what
    is missing (e.g. unreadable files)."""
    run = snapshot.run
    clips = _read_lenient(snapshot.files("clips"), CLIP_COLUMNS)
    errors = _read_lenient(snapshot.files("errors"), ERROR_COLUMNS)
    pattern = device_from_path or (run.get("options_key") or {}).get("device_from_path")
    clips = _fill_devices(clips, pattern, override=bool(device_from_path))
    errors = _fill_devices(errors, pattern, override=True)
    if "device_id" not in errors.column_names:
        errors = errors.append_column("device_id", pa.nulls(errors.num_rows, pa.string()))
    return IndexSide(run=run, clips=clips, errors=errors, snapshot=snapshot.root)
