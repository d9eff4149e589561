"""Delta Lake transaction logs, written by clipindex itself (reader 1, writer 2: plain Parquet files).

Why not delta-rs's writer: a night's files are written by Beam workers, and carrying rows
forward means removing and adding *whole files* by name; delta-rs's Python API writes its
own data or overwrites everything, it does not commit "add these files, remove those". The
log format is small and fixed (https://github.com/delta-io/delta/blob/master/PROTOCOL.md):
`_delta_log/<version:020d>.json`, one action per line. A commit is created with
put-if-absent (link(2) locally, `ifGenerationMatch=0` on GCS), so two writers can never both
write version N; the lease lock (storage.lock) keeps a second writer away in the first place.

Every clipindex commit carries a `txn` action (appId `clipindex`, version = the run's
sequence number): a run killed between two tables' commits is rolled forward by the next
run, which commits a table only if its log has no `txn` of that run yet (idempotent).

Reading replays the JSON commits (no Delta checkpoints are written; the table properties
turn off log clean-up so another engine's checkpoint never deletes the JSON history).
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.parse
import uuid
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from transforms.storage import fs as storage

LOG = "_delta_log"
APP_ID = "clipindex"
PROTOCOL = {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}
# Another engine (Spark, delta-rs) that writes a checkpoint must not delete the JSON commits:
# clipindex replays them, and the history of every night is kept.
TABLE_PROPERTIES = {"delta.enableExpiredLogCleanup": "false", "delta.logRetentionDuration": "interval 36500 days"}


class CommitConflict(Exception):
    """Version N of a table exists already: another writer committed first."""


def log_dir(table: str) -> str:
    return storage.join(table, LOG)


def _commit_path(table: str, version: int) -> str:
    return storage.join(log_dir(table), f"{version:020d}.json")


def _delta_type(kind: pa.DataType):
    simple = {pa.string(): "string", pa.int64(): "long", pa.int32(): "integer", pa.int16(): "short",
              pa.int8(): "byte", pa.float64(): "double", pa.float32(): "float", pa.bool_(): "boolean",
              pa.binary(): "binary", pa.date32(): "date"}
    if kind in simple:
        return simple[kind]
    if pa.types.is_timestamp(kind):
        return "timestamp" if kind.tz else "timestamp_ntz"
    if pa.types.is_list(kind):
        return {"type": "array", "elementType": _delta_type(kind.value_type), "containsNull": True}
    if pa.types.is_struct(kind):
        return _struct(list(kind))
    raise ValueError(f"no Delta type for Arrow {kind}")


def _struct(fields) -> dict:
    return {"type": "struct", "fields": [{"name": f.name, "type": _delta_type(f.type), "nullable": True,
                                          "metadata": {}} for f in fields]}


def schema_string(schema: pa.Schema) -> str:
    """The Delta schema of an Arrow schema (every column nullable, as clipindex writes them)."""
    return json.dumps(_struct(list(schema)), separators=(",", ":"))


def metadata_action(schema: pa.Schema, name: str, description: str, table_id: Optional[str] = None) -> dict:
    return {"metaData": {"id": table_id or str(uuid.uuid4()), "name": name, "description": description,
                         "format": {"provider": "parquet", "options": {}},
                         "schemaString": schema_string(schema), "partitionColumns": [],
                         "configuration": dict(TABLE_PROPERTIES), "createdTime": _now_ms()}}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _stat_value(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    return None  # timestamps and binaries: no min/max (a reader then just reads the file)


def file_stats(path: str) -> dict:
    """numRecords, nullCount and min/max of the flat columns, from the file's footer only."""
    with storage.open_read(path) as handle:
        meta = pq.ParquetFile(handle).metadata
    stats = {"numRecords": meta.num_rows, "minValues": {}, "maxValues": {}, "nullCount": {}}
    columns = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    for name, index in columns.items():
        if "." in name:
            continue  # nested (list) columns: none
        lows, highs, nulls = [], [], 0
        complete = meta.num_row_groups > 0
        for group in range(meta.num_row_groups):
            column = meta.row_group(group).column(index).statistics
            if column is None or not column.has_null_count:
                complete = False
                break
            nulls += column.null_count
            if column.has_min_max:
                lows.append(_stat_value(column.min))
                highs.append(_stat_value(column.max))
        if not complete:
            continue
        stats["nullCount"][name] = nulls
        if lows and None not in lows + highs:
            stats["minValues"][name], stats["maxValues"][name] = min(lows), max(highs)
    return stats


def add_action(table: str, path: str) -> dict:
    """An `add` for a data file below `table` (its relative path, size and statistics)."""
    relative = path[len(table.rstrip("/")) + 1:]
    return {"add": {"path": urllib.parse.quote(relative), "partitionValues": {}, "size": storage.size(path),
                    "modificationTime": _now_ms(), "dataChange": True,
                    "stats": json.dumps(file_stats(path), separators=(",", ":"))}}


def remove_action(relative: str, size: Optional[int]) -> dict:
    return {"remove": {"path": urllib.parse.quote(relative), "deletionTimestamp": _now_ms(), "dataChange": True,
                       "extendedFileMetadata": True, "partitionValues": {}, "size": size or 0}}


@dataclasses.dataclass
class TableState:
    """A table at one version: its live files (relative path -> size), metadata, app transactions."""

    table: str
    version: int = -1                     # -1: no commit yet
    files: dict = dataclasses.field(default_factory=dict)
    metadata: Optional[dict] = None
    txn: dict = dataclasses.field(default_factory=dict)        # appId -> last version
    run_versions: dict = dataclasses.field(default_factory=dict)  # clipindex txn version -> table version
    removed: dict = dataclasses.field(default_factory=dict)    # relative path -> deletion time (ms)
    commit_times: dict = dataclasses.field(default_factory=dict)  # table version -> commit time (ms)

    def paths(self) -> list[str]:
        """Absolute paths of the live files, in a stable order."""
        return [storage.join(self.table, relative) for relative in sorted(self.files)]

    def schema_string(self) -> Optional[str]:
        return self.metadata["schemaString"] if self.metadata else None


def commit_versions(table: str) -> list[int]:
    """Versions present in the log, ascending."""
    versions = []
    for path in storage.list_files(log_dir(table), ".json"):
        stem = path.rsplit("/", 1)[-1][:-len(".json")]
        if stem.isdigit():
            versions.append(int(stem))
    return sorted(versions)


def read_state(table: str, version: Optional[int] = None) -> TableState:
    """Replay the log up to `version` (None: the newest); a table without a log has version -1."""
    state = TableState(table)
    versions = [v for v in commit_versions(table) if version is None or v <= version]
    if versions and versions[0] != 0:
        raise ValueError(f"{table}: the Delta log starts at version {versions[0]}, not 0 (log files were "
                         "cleaned up); clipindex needs every commit")
    if version is not None and (not versions or versions[-1] != version):
        raise ValueError(f"{table} has no version {version}")
    for number in versions:
        _apply(state, number, storage.read_text(_commit_path(table, number)))
    return state


def _apply(state: TableState, number: int, text: str) -> None:
    state.version = number
    for line in text.splitlines():
        if not line.strip():
            continue
        action = json.loads(line)
        if "add" in action:
            relative = urllib.parse.unquote(action["add"]["path"])
            state.files[relative] = action["add"].get("size")
            state.removed.pop(relative, None)
        elif "remove" in action:
            relative = urllib.parse.unquote(action["remove"]["path"])
            state.files.pop(relative, None)
            state.removed[relative] = action["remove"].get("deletionTimestamp") or 0
        elif "metaData" in action:
            state.metadata = action["metaData"]
        elif "txn" in action:
            state.txn[action["txn"]["appId"]] = action["txn"]["version"]
            if action["txn"]["appId"] == APP_ID:
                state.run_versions[action["txn"]["version"]] = number
        elif "commitInfo" in action:
            state.commit_times[number] = action["commitInfo"].get("timestamp")


def write_commit(table: str, version: int, actions: list[dict], run_id: str, seq: int, operation: str,
                 app_id: str = APP_ID) -> None:
    """Create version `version` of `table` (put-if-absent); CommitConflict if it exists."""
    info = {"commitInfo": {"timestamp": _now_ms(), "operation": operation, "operationParameters": {},
                           "engineInfo": "clipindex", "clipindexRunId": run_id, "isBlindAppend": False}}
    txn = {"txn": {"appId": app_id, "version": seq, "lastUpdated": _now_ms()}}
    head = [PROTOCOL] if version == 0 else []
    text = "\n".join(json.dumps(a, separators=(",", ":")) for a in [info, *head, txn, *actions]) + "\n"
    storage.makedirs(log_dir(table))
    try:
        storage.put_if_absent(_commit_path(table, version), text.encode("utf-8"))
    except FileExistsError:
        raise CommitConflict(f"{table}: version {version} was committed by another writer") from None


def needed_files(table: str, oldest_version: int) -> set[str]:
    """Relative paths of the files any version from `oldest_version` on reads (what vacuum keeps)."""
    state = TableState(table)
    needed: set[str] = set()
    for number in commit_versions(table):
        _apply(state, number, storage.read_text(_commit_path(table, number)))
        if number >= oldest_version:
            needed.update(state.files)
    return needed
