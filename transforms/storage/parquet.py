"""Reading and writing the index's Parquet tables outside Beam (launcher side).

Works on local folders and gs:// prefixes alike (see transforms.storage.fs).
"""

from __future__ import annotations

import io
from typing import Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import parquet_options
from transforms.storage import fs as storage


def table_files(table_dir: str) -> list[str]:
    return storage.list_files(table_dir, ".parquet")


def _read_file(path: str, columns: Optional[list[str]], schema: Optional[pa.Schema]) -> pa.Table:
    with storage.open_read(path) as handle:
        return pq.read_table(handle, columns=columns, schema=schema)


def read_table(table_dir: str, schema: pa.Schema, columns: Optional[Sequence[str]] = None) -> pa.Table:
    """All files of one table as one Arrow table (empty, with the schema, if none)."""
    wanted = schema if columns is None else pa.schema([schema.field(c) for c in columns])
    parts = [_read_file(path, list(wanted.names), wanted) for path in table_files(table_dir)]
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return wanted.empty_table()
    return pa.concat_tables(parts)


def read_file(path: str, columns: Optional[list[str]] = None) -> pa.Table:
    return _read_file(path, columns, None)


def count_rows(table_dir: str) -> int:
    """Row count from Parquet footers only: no data pages are read."""
    total = 0
    for path in table_files(table_dir):
        with storage.open_read(path) as handle:
            total += pq.ParquetFile(handle).metadata.num_rows
    return total


def write_table(table: pa.Table, path: str) -> None:
    """Write atomically (temp name + rename locally; one object write on GCS)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, **parquet_options(table.schema))
    storage.write_bytes(path, sink.getvalue())


def write_empty_tables(snapshot: str, run_id: str) -> None:
    """Give every table without rows one Parquet file: zero rows, the full schema.

    A table without files is not a table to its readers: DuckDB's
    `select count(*) from 'DIR/errors/*.parquet'` fails with "No files found" on a
    clean night, and pyarrow reads a table without columns.
    """
    from schemas import CLIPS_SCHEMA, ERRORS_SCHEMA, FRAMES_SCHEMA, SAMPLES_SCHEMA

    for table, schema in (("clips", CLIPS_SCHEMA), ("frames", FRAMES_SCHEMA), ("samples", SAMPLES_SCHEMA),
                          ("errors", ERRORS_SCHEMA)):
        folder = storage.join(snapshot, table)
        if not table_files(folder):
            storage.makedirs(folder)
            write_table(schema.empty_table(), storage.join(folder, f"{run_id}-empty.parquet"))
