"""Comparing two indexes row for row (all but what is specific to a run), and waiting in tests."""

from __future__ import annotations

import time

from tests.support.tables import read_table as read_index_table

RUN_SPECIFIC = {"run_id", "index_wall_s", "bytes_read"}

def table_rows(index_dir, table, key):
    rows = read_index_table(index_dir, table).to_pylist()
    rows = [{k: v for k, v in row.items() if k not in RUN_SPECIFIC} for row in rows]
    return sorted(rows, key=key)

def assert_same_index(a, b):
    assert table_rows(a, "clips", lambda r: r["uri"]) == table_rows(b, "clips", lambda r: r["uri"])
    assert table_rows(a, "errors", lambda r: r["uri"]) == table_rows(b, "errors", lambda r: r["uri"])
    frame_key = lambda r: (r["clip_id"], r["frame_index"])  # noqa: E731
    assert table_rows(a, "frames", frame_key) == table_rows(b, "frames", frame_key)

# What differs between two runs of the same inputs on any runner (the engine tests compare the rest,
# bytes_read included: the same reader reads the same bytes wherever it runs).
RUN_ID_COLUMNS = {"run_id", "index_wall_s"}


def _all_rows(index_dir: str, table: str) -> list[tuple]:
    data = read_index_table(index_dir, table)
    data = data.drop_columns([c for c in data.column_names if c in RUN_ID_COLUMNS])
    return sorted(tuple(row.items()) for row in data.to_pylist())


def assert_same_rows(expected_dir: str, actual_dir: str, tables) -> None:
    """Every row of each table equal, every column but RUN_ID_COLUMNS; the reference has rows."""
    for table in tables:
        expected, actual = _all_rows(expected_dir, table), _all_rows(actual_dir, table)
        assert expected, f"{table}: the reference index has no rows"
        assert len(actual) == len(expected), f"{table}: {len(actual)} rows, expected {len(expected)}"
        assert actual == expected, f"{table}: rows differ"


def wait_for(predicate, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")
