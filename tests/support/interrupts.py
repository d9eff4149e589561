"""Interrupted runs in tests: what a checkpoint kept, whether a process group is gone."""

from __future__ import annotations

import glob
import os

import pyarrow.parquet as pq


def kept_clips(out) -> int:
    files = glob.glob(str(out / "checkpoint/*/clips/*.parquet"))
    return sum(pq.ParquetFile(path).metadata.num_rows for path in files)


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False
