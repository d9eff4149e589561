"""Reading and writing the index's Parquet tables outside Beam (launcher side).

Works on local folders and gs:// prefixes alike (see transforms.storage.fs).
"""

from __future__ import annotations

import io
from typing import Optional, Sequence, Union

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import parquet_options
from transforms.storage import fs as storage


def table_files(table_dir: str) -> list[str]:
    """The Parquet files directly in a plain folder (a checkpoint's; never a Delta table's)."""
    return storage.list_files(table_dir, ".parquet")


Files = Union[str, Sequence[str]]  # a plain folder, or a table's live files (storage.snapshots)


def _files(source: Files) -> list[str]:
    return table_files(source) if isinstance(source, str) else list(source)


def _read_file(path: str, columns: Optional[list[str]], schema: Optional[pa.Schema]) -> pa.Table:
    with storage.open_read(path) as handle:
        return pq.read_table(handle, columns=columns, schema=schema)


def read_table(table_dir: Files, schema: pa.Schema, columns: Optional[Sequence[str]] = None) -> pa.Table:
    """All files of one table as one Arrow table (empty, with the schema, if none)."""
    wanted = schema if columns is None else pa.schema([schema.field(c) for c in columns])
    parts = [_read_file(path, list(wanted.names), wanted) for path in _files(table_dir)]
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return wanted.empty_table()
    return pa.concat_tables(parts)


def read_file(path: str, columns: Optional[list[str]] = None) -> pa.Table:
    return _read_file(path, columns, None)


def count_rows(table_dir: Files) -> int:
    """Row count from Parquet footers only: no data pages are read."""
    total = 0
    for path in _files(table_dir):
        with storage.open_read(path) as handle:
            total += pq.ParquetFile(handle).metadata.num_rows
    return total


def write_table(table: pa.Table, path: str) -> None:
    """Write atomically (temp name + rename locally; one object write on GCS)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, **parquet_options(table.schema))
    storage.write_bytes(path, sink.getvalue())
