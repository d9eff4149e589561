"""An archive that moved, or an index of an older id scheme: its rows rebased, not read again.

Clip ids are made from the path below the archive root
(transforms/storage/archive_root.py). When the root a run uses differs from
the live snapshot's (the archive was remounted at another path, or moved to
another bucket), the live snapshot's uris are rewritten below the new root
into a hidden copy in the new snapshot (`.rebased/`), and the run plans and
carries forward from that copy: the same files are unchanged, nothing is read
again, nothing counts as new or removed, and the removal guard stays quiet.
Ids stay the same, so frames, samples and thumbnails are linked, not copied.

An index written before ids were relative (schema 2: the SHA-1 of the
absolute uri; no `archive_root` in its options key) is migrated the same
way, its ids rewritten in every table: its rows are otherwise what schema 3
writes, so nothing is read again. Its root is the default its own inputs
gave (run.json `options.inputs`).
"""

from __future__ import annotations

import json
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc

from schemas.tables import SCHEMA_META
from transforms.storage import fs as storage
from transforms.storage.archive_root import clip_id_for, default_archive_root, manifest_archive_root
from transforms.storage.parquet import read_file, table_files, write_table
from transforms.storage.snapshots import TABLES, THUMBS

REBASED = ".rebased"
# Schema versions whose rows differ from the current one's only in how clip_id is made.
ID_ONLY_UPGRADES = {"2": "3"}


def _root_of(run: dict) -> Optional[str]:
    key = run.get("options_key") or {}
    if "archive_root" in key:
        return key["archive_root"]
    options = run.get("options") or {}
    if options.get("manifest"):
        return manifest_archive_root(options["manifest"], options.get("manifest_root"))
    return default_archive_root(options.get("inputs") or [])


def _remap(column, old: pa.Array, new: pa.Array) -> pa.Array:
    """Values found in `old` replaced by `new` at the same position; others kept."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    position = pc.index_in(column, value_set=old)
    return pc.if_else(pc.is_valid(position), pc.take(new, position.fill_null(0)), column)


def _moved_uris(column, old_root: Optional[str], new_root: Optional[str]) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not old_root or not new_root or old_root == new_root:
        return column
    old_prefix, new_prefix = old_root.rstrip("/") + "/", new_root.rstrip("/") + "/"
    below = pc.fill_null(pc.starts_with(column, old_prefix), False)
    moved = pc.binary_join_element_wise(pa.scalar(new_prefix), pc.utf8_slice_codeunits(column, len(old_prefix)), "")
    return pc.if_else(below, moved, column)


def _set(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, values.cast(table.schema.field(name).type))


class _Rewrite:
    """The uri and id changes of one rebase, applied a table file at a time."""

    def __init__(self, previous: str, old_root: Optional[str], new_root: Optional[str], legacy_ids: bool):
        self.old_root, self.new_root = old_root, new_root
        rows = [read_file(path, ["clip_id", "uri"]) for table in ("clips", "errors")
                for path in table_files(storage.join(previous, table))]
        both = pa.concat_tables(rows) if rows else pa.table({"clip_id": pa.array([], pa.string()),
                                                             "uri": pa.array([], pa.string())})
        ids, uris = both.column("clip_id").combine_chunks(), both.column("uri").combine_chunks()
        new_uris = _moved_uris(uris, old_root, new_root).to_pylist()
        self.old_ids = ids
        self.new_ids = pa.array([clip_id_for(uri, new_root) for uri in new_uris], pa.string()) if legacy_ids else ids
        self.ids_change = legacy_ids

    def table(self, data: pa.Table) -> pa.Table:
        if "uri" in data.column_names:
            data = _set(data, "uri", _moved_uris(data.column("uri"), self.old_root, self.new_root))
        if self.ids_change:
            for name in ("clip_id", "duplicate_of", "excerpt_of"):
                if name in data.column_names:
                    data = _set(data, name, _remap(data.column(name), self.old_ids, self.new_ids))
        return data

    def thumbnail_name(self, name: str) -> str:
        if not self.ids_change:
            return name
        stem = name[: -len(".jpg")]
        return _remap(pa.array([stem]), self.old_ids, self.new_ids)[0].as_py() + ".jpg"


def rebase_if_moved(previous: Optional[str], snapshot: str,
                    archive_root: Optional[str]) -> tuple[Optional[str], Optional[dict]]:
    """(the snapshot to plan and carry from, what was rebased or None).

    The first is `previous` itself when its root is this run's and its ids are current.
    """
    if previous is None:
        return None, None
    run = json.loads(storage.read_text(storage.join(previous, "run.json")))
    key = dict(run.get("options_key") or {})
    legacy_ids = "archive_root" not in key
    old_root = _root_of(run)
    if not legacy_ids and old_root == archive_root:
        return previous, None
    target = storage.join(snapshot, REBASED)
    rewrite = _Rewrite(previous, old_root, archive_root, legacy_ids)
    for table in TABLES:
        storage.makedirs(storage.join(target, table))
        for path in table_files(storage.join(previous, table)):
            out = storage.join(target, table, path.rsplit("/", 1)[-1])
            touches = table in ("clips", "errors") or rewrite.ids_change
            if touches:
                data = rewrite.table(read_file(path))
                write_table(data.replace_schema_metadata({**(data.schema.metadata or {}), **SCHEMA_META}), out)
            else:
                storage.link_or_copy(path, out)
    for path in storage.list_files(storage.join(previous, THUMBS), ".jpg"):
        storage.makedirs(storage.join(target, THUMBS))
        storage.link_or_copy(path, storage.join(target, THUMBS, rewrite.thumbnail_name(path.rsplit("/", 1)[-1])))
    key["archive_root"] = archive_root
    if legacy_ids and key.get("schema_version") in ID_ONLY_UPGRADES:
        key["schema_version"] = ID_ONLY_UPGRADES[key["schema_version"]]
    storage.write_bytes(storage.join(target, "run.json"), json.dumps({**run, "options_key": key}).encode())
    return target, {"from": old_root, "to": archive_root, "clip_ids_rewritten": legacy_ids,
                    "rows": len(rewrite.old_ids)}


def drop_rebased(snapshot: str) -> None:
    """The rebased copy is only what this run carried from: never part of the committed snapshot."""
    storage.delete_tree(storage.join(snapshot, REBASED))
