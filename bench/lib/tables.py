"""An index's tables as the benchmarks read them: the night DIR/run.json names, never a folder.

A table folder is a Delta table (docs/tables.md): it keeps the files of older nights until
they are vacuumed, so `pyarrow.parquet.read_table(DIR/clips)` would count carried and
replaced rows twice after a second night (and fails on the folder's marker file). This reads
the files of the live version, as clipindex's own readers do (transforms.storage.snapshots).
"""

from __future__ import annotations

from typing import Optional, Sequence

import pyarrow as pa

from transforms.storage.parquet import read_table
from transforms.storage.snapshots import SCHEMAS, live_snapshot


def read_index_table(index_dir: str, table: str, columns: Optional[Sequence[str]] = None) -> pa.Table:
    """One table of the live night (`table`: clips, frames, samples, errors, matches)."""
    snapshot = live_snapshot(index_dir)
    files = snapshot.files(table) if snapshot is not None else []
    return read_table(files, SCHEMAS[table], columns)
