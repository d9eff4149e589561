"""Reading and writing the index's Parquet tables outside Beam (launcher side)."""

from __future__ import annotations

import os
from typing import Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_COMPRESSION = "zstd"


def table_files(table_dir: str) -> list[str]:
    if not os.path.isdir(table_dir):
        return []
    return sorted(os.path.join(table_dir, name) for name in os.listdir(table_dir)
                  if name.endswith(".parquet") and not name.startswith("."))


def read_table(table_dir: str, schema: pa.Schema, columns: Optional[Sequence[str]] = None) -> pa.Table:
    """All files of one table as one Arrow table (empty, with the schema, if none)."""
    wanted = schema if columns is None else pa.schema([schema.field(c) for c in columns])
    parts = [pq.read_table(path, columns=list(wanted.names), schema=wanted) for path in table_files(table_dir)]
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return wanted.empty_table()
    return pa.concat_tables(parts)


def count_rows(table_dir: str) -> int:
    """Row count from Parquet footers only: no data pages are read."""
    return sum(pq.ParquetFile(path).metadata.num_rows for path in table_files(table_dir))


def write_table(table: pa.Table, path: str) -> None:
    """Write through a temp name and rename, so readers never see half a file."""
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    pq.write_table(table, tmp, compression=PARQUET_COMPRESSION)
    os.replace(tmp, path)
