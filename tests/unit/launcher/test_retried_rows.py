"""Rows a retried attempt made visible twice are kept once (transforms/launcher/retried_rows.py).

The shape of what a Flink restart after a lost TaskManager left in a run's folders
(DIR/<table>/<run_id>/): the first attempt's committed files beside the retry's, with the
same rows. Files of earlier runs (rows carried forward by reference) are never looked at.
"""

from __future__ import annotations

import pyarrow as pa

from schemas import CLIPS_SCHEMA, ERRORS_SCHEMA, FRAMES_SCHEMA, SAMPLES_SCHEMA
from transforms.launcher.retried_rows import drop_retried_rows
from transforms.storage.parquet import read_table, write_table
from transforms.storage.snapshots import Draft


def _table(schema: pa.Schema, **columns) -> pa.Table:
    rows = len(next(iter(columns.values())))
    arrays = [pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(rows, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _frames(clip_id: str, count: int) -> pa.Table:
    return _table(FRAMES_SCHEMA, clip_id=[clip_id] * count, frame_index=list(range(count)))


def _snapshot(tmp_path, retried: bool):
    """The night's folders (returned: the draft and the folder holding its files)."""
    out = tmp_path / "DIR"
    draft = Draft(str(out), "r", None)
    draft.prepare()
    # An earlier night's files in the same tables: clips a and b carried, never a retry's copy.
    for table, rows in (("clips", _table(CLIPS_SCHEMA, clip_id=["a", "b"])), ("frames", _frames("a", 3))):
        (out / table / "earlier").mkdir()
        write_table(rows, str(out / table / "earlier" / "part-0.parquet"))

    def put(table: str, name: str, rows: pa.Table) -> None:
        write_table(rows, str(out / table / "r" / f"{name}.parquet"))

    # Attempt 1: clips a and b read, c failed; its files were committed before the restart.
    put("clips", "r-part-1", _table(CLIPS_SCHEMA, clip_id=["a", "b"], index_wall_s=[0.5, 0.7]))
    put("frames", "r-part-1", pa.concat_tables([_frames("a", 3), _frames("b", 2)]))
    put("samples", "r-part-1", _table(SAMPLES_SCHEMA, clip_id=["b", "b"], pts_s=[0.0, 1.0]))
    put("errors", "r-part-1", _table(ERRORS_SCHEMA, clip_id=["c"], error_kind=["io_error"]))
    if retried:  # attempt 2 read b and c again; b's frames straddle two files
        put("clips", "r-part-2", _table(CLIPS_SCHEMA, clip_id=["b", "c"], index_wall_s=[0.9, 0.4]))
        put("frames", "r-part-2", _frames("b", 1))
        put("frames", "r-part-3", pa.concat_tables([_frames("b", 2).slice(1), _frames("c", 4)]))
        put("samples", "r-part-2", _table(SAMPLES_SCHEMA, clip_id=["b", "b"], pts_s=[0.0, 1.0]))
    return draft, out


def test_one_copy_of_each_row_is_kept(tmp_path):
    draft, out = _snapshot(tmp_path, retried=True)
    earlier = {p: p.stat().st_mtime_ns for p in out.glob("*/earlier/*.parquet")}
    dropped = drop_retried_rows(draft)
    assert dropped == {"clips": 1, "frames": 2, "samples": 2, "errors": 1}
    clips = read_table(draft.folder("clips"), CLIPS_SCHEMA, ["clip_id"]).column("clip_id").to_pylist()
    assert sorted(clips) == ["a", "b", "c"]
    frames = read_table(draft.folder("frames"), FRAMES_SCHEMA, ["clip_id", "frame_index"]).to_pylist()
    assert sorted((r["clip_id"], r["frame_index"]) for r in frames) == (
        [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)] + [("c", i) for i in range(4)])
    assert read_table(draft.folder("samples"), SAMPLES_SCHEMA).num_rows == 2
    assert read_table(draft.folder("errors"), ERRORS_SCHEMA).num_rows == 0  # c was read on retry
    assert drop_retried_rows(draft) == {}  # idempotent
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/earlier/*.parquet")} == earlier


def test_a_run_without_retries_touches_nothing(tmp_path):
    draft, out = _snapshot(tmp_path, retried=False)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    assert drop_retried_rows(draft) == {}  # a and b are also in the earlier night's files: not twice
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")} == before
