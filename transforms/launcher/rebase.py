"""An archive that moved, or an index of an older id scheme: its rows rebased, not read again.

Clip ids are made from the path below the archive root
(transforms/storage/archive_root.py). When the root a run uses differs from
the live night's (the archive was remounted at another path, or moved to
another bucket), the live night's clips and errors files are rewritten with
their uris below the new root into this run's folder of each table
(`DIR/<table>/<run_id>/rebased/`), and the run plans and carries forward from
them: the same files are unchanged, nothing is read again, nothing counts as
new or removed, and the removal guard stays quiet. A rebased file is carried
forward by reference like any other, so the night's one commit per table
removes the old clips files and adds the rebased ones (Delta `remove` and
`add` actions); the old files stay readable in the older versions (`--as-of`).
Ids stay the same, so frames, samples and thumbnails are kept as they are.

An index written before ids were relative (schema 2: the SHA-1 of the
absolute uri; no `archive_root` in its options key) is migrated the same
way, its ids rewritten in every table (frames and samples files rewritten
too, thumbnails staged under their new names): its rows are otherwise what
schema 3 writes, so nothing is read again. Its root is the default its own
inputs gave (run.json `options.inputs`). An index of the layout before Delta
tables is first migrated to them (transforms/storage/migrate.py), then rebased.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc

from schemas.tables import SCHEMA_META
from transforms.storage import fs as storage
from transforms.storage.archive_root import clip_id_for, default_archive_root, manifest_archive_root
from transforms.storage.parquet import read_file, write_table
from transforms.storage.snapshots import TABLES, THUMBS, Draft, Snapshot

REBASED = "rebased"
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

    def __init__(self, previous: Snapshot, old_root: Optional[str], new_root: Optional[str], legacy_ids: bool):
        self.old_root, self.new_root = old_root, new_root
        rows = [read_file(path, ["clip_id", "uri"]) for table in ("clips", "errors") for path in previous.files(table)]
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


def rebased_folder(draft: Draft, table: str) -> str:
    """Where a run's rebased files of one table go: below its own folder, so a run killed before
    its commit leaves nothing a later run keeps (storage.snapshots removes uncommitted run folders),
    but not directly in it, where the night's written files are listed."""
    return storage.join(draft.folder(table), REBASED)


def _staged_thumbnails(draft: Draft) -> str:
    return storage.join(draft.scratch, "rebased-" + THUMBS)


def _rewrite_files(paths: list[str], folder: str, rewrite: _Rewrite) -> list[str]:
    storage.makedirs(folder)
    written = []
    for number, path in enumerate(paths):
        # Numbered: carried files of several runs' folders may share a name.
        target = storage.join(folder, f"{number:05d}-{path.rsplit('/', 1)[-1]}")
        data = rewrite.table(read_file(path))
        write_table(data.replace_schema_metadata({**(data.schema.metadata or {}), **SCHEMA_META}), target)
        written.append(target)
    return written


def _stage_thumbnails(draft: Draft, rewrite: _Rewrite) -> None:
    """Sheets under their clips' new ids, for drop_rebased to hand the carried ones to the commit."""
    if not rewrite.ids_change:
        return
    staged = _staged_thumbnails(draft)
    for path in storage.list_files(storage.join(draft.root, THUMBS), ".jpg"):
        storage.makedirs(staged)
        storage.link_or_copy(path, storage.join(staged, rewrite.thumbnail_name(path.rsplit("/", 1)[-1])))


def rebase_if_moved(previous: Optional[Snapshot], draft: Draft,
                    archive_root: Optional[str]) -> tuple[Optional[Snapshot], Optional[dict]]:
    """(the night to plan and carry from, what was rebased or None).

    The first is `previous` itself when its root is this run's and its ids are current.
    """
    if previous is None:
        return None, None
    run = previous.run
    key = dict(run.get("options_key") or {})
    legacy_ids = "archive_root" not in key
    old_root = _root_of(run)
    if not legacy_ids and old_root == archive_root:
        return previous, None
    rewrite = _Rewrite(previous, old_root, archive_root, legacy_ids)
    rewritten = {table: _rewrite_files(previous.files(table), rebased_folder(draft, table), rewrite)
                 for table in TABLES if table in ("clips", "errors") or rewrite.ids_change}
    _stage_thumbnails(draft, rewrite)
    key["archive_root"] = archive_root
    if legacy_ids and key.get("schema_version") in ID_ONLY_UPGRADES:
        key["schema_version"] = ID_ONLY_UPGRADES[key["schema_version"]]
    base = dataclasses.replace(previous, run={**run, "options_key": key}, rewritten=rewritten)
    return base, {"from": old_root, "to": archive_root, "clip_ids_rewritten": legacy_ids,
                  "rows": len(rewrite.old_ids)}


def drop_rebased(draft: Draft, carried_ids: set[str]) -> None:
    """What the rebase wrote that the night does not carry goes before the commit: rebased files no
    carried row kept, sheets of clips read again (their new sheets come from this run)."""
    for table in TABLES:
        kept = set(draft.kept.get(table, ()))
        for path in storage.list_files(rebased_folder(draft, table), ".parquet"):
            if path not in kept:
                storage.delete_file(path)
    staged = _staged_thumbnails(draft)
    for path in storage.list_files(staged, ".jpg"):
        name = path.rsplit("/", 1)[-1]
        if name[: -len(".jpg")] in carried_ids:
            storage.makedirs(storage.join(draft.scratch, THUMBS))
            storage.rename(path, storage.join(draft.scratch, THUMBS, name))
    storage.delete_tree(staged)
