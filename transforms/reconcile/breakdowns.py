"""Totals by day (in --tz), by device and by officer: expected against indexed.

Expected: the manifest's rows that count (a second listing of a copy does
not). Indexed: the original clips; a matched clip is grouped by its manifest
row's day, device and officer where the manifest gives them, else by its
own `recorded_at` and `device_id`. Grouping runs in Arrow (group_by).
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.manifest.times import local_dates

UNKNOWN = "unknown"


def _days(times: pa.Array, zone: Optional[dt.tzinfo]) -> pa.Array:
    """Local calendar days (date32): grouped as numbers, named only per group."""
    valid = times.is_valid().to_numpy(zero_copy_only=False)
    utc_us = pc.cast(times, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    return pa.array(local_dates(utc_us, zone).astype(np.int32), pa.date32(), mask=~valid)


def _sums(groups: pa.Array, seconds: np.ndarray) -> dict[str, tuple[int, float]]:
    table = pa.table({"group": groups, "seconds": np.nan_to_num(seconds, nan=0.0)})
    summed = table.group_by("group").aggregate([("seconds", "sum"), ("seconds", "count")])
    return {UNKNOWN if g is None else str(g): (n, s)
            for g, n, s in zip(summed.column("group").to_pylist(), summed.column("seconds_count").to_pylist(),
                               summed.column("seconds_sum").to_pylist())}


def _merge(expected: dict, indexed: dict) -> list[dict]:
    out = []
    for group in sorted(set(expected) | set(indexed)):
        e_clips, e_s = expected.get(group, (0, 0.0))
        i_clips, i_s = indexed.get(group, (0, 0.0))
        out.append({"group": group, "expected_clips": e_clips, "expected_hours": e_s / 3600,
                    "indexed_clips": i_clips, "indexed_hours": i_s / 3600})
    return out


def breakdowns(clips: pa.Table, originals: np.ndarray, basis_s: np.ndarray, zone: Optional[dt.tzinfo],
               manifest: Optional[pa.Table] = None, counted: Optional[np.ndarray] = None,
               listed: Optional[np.ndarray] = None) -> dict:
    """listed: per clip, its manifest row or -1; counted: manifest rows that count."""
    take = pa.array(np.flatnonzero(originals), pa.int64())
    own = {"recorded_at": clips.column("recorded_at").take(take).combine_chunks(),
           "device_id": clips.column("device_id").take(take).combine_chunks(),
           "officer_id": pa.nulls(len(take), pa.string())}
    seconds = basis_s[originals]
    expected = {"by_day": {}, "by_device": {}, "by_officer": {}}
    if manifest is not None:
        rows = manifest.filter(pa.array(counted))
        row_seconds = rows.column("expected_duration_s").to_numpy(zero_copy_only=False)
        expected = {"by_day": _sums(_days(rows.column("recorded_at").combine_chunks(), zone), row_seconds),
                    "by_device": _sums(rows.column("device_id").combine_chunks(), row_seconds),
                    "by_officer": _sums(rows.column("officer_id").combine_chunks(), row_seconds)}
        at = listed[originals]
        theirs = manifest.take(pa.array(np.maximum(at, 0), pa.int64()))
        for name in own:
            values = pc.if_else(pa.array(at >= 0), theirs.column(name).combine_chunks(),
                                pa.nulls(len(at), theirs.column(name).type))
            own[name] = pc.coalesce(values, own[name])
    indexed = {"by_day": _sums(_days(own["recorded_at"], zone), seconds),
               "by_device": _sums(own["device_id"], seconds), "by_officer": _sums(own["officer_id"], seconds)}
    merged = {name: _merge(expected[name], indexed[name]) for name in expected}
    if manifest is None:  # nothing to compare with: only what the index itself knows
        merged["by_officer"] = []
        if not own["device_id"].is_valid().to_numpy(zero_copy_only=False).any():
            merged["by_device"] = []
    return merged
