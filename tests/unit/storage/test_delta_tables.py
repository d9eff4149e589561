"""The Delta log clipindex writes: put-if-absent commits, the old layout migrated, --as-of parsing."""

import datetime as dt
import json
import os

import pyarrow as pa
import pytest

from schemas import CLIPS_SCHEMA, ERRORS_SCHEMA
from transforms.storage import delta_log
from transforms.storage.parquet import read_table, write_table
from transforms.storage.snapshots import (
    OldLayout,
    finish_interrupted_commit,
    live_snapshot,
    parse_as_of,
)


def test_a_version_is_written_once(tmp_path):
    table = str(tmp_path / "t")
    delta_log.write_commit(table, 0, [delta_log.metadata_action(ERRORS_SCHEMA, "t", "")], "r1", 1, "WRITE")
    with pytest.raises(delta_log.CommitConflict):
        delta_log.write_commit(table, 0, [], "r2", 2, "WRITE")
    state = delta_log.read_state(table)
    assert state.version == 0 and state.run_versions == {1: 0} and not os.listdir(tmp_path / "t" / "_delta_log")[1:]


def _old_layout(out, run_id="20260101T000000Z-aaaaaa"):
    snapshot = out / "snapshots" / run_id
    clips = pa.Table.from_pylist([{"clip_id": "A", "uri": "/a.mp4", "frame_count": 0}], schema=CLIPS_SCHEMA)
    for table, data in (("clips", clips), ("frames", None), ("samples", None), ("errors", None)):
        (snapshot / table).mkdir(parents=True)
        if data is not None:
            write_table(data, str(snapshot / table / "part-0.parquet"))
    run = {"run_id": run_id, "finished_at": "2026-01-01T00:00:00+00:00", "indexed": 1}
    (snapshot / "run.json").write_text(json.dumps(run))
    (out / "runs").mkdir()
    (out / "runs" / f"{run_id}.json").write_text(json.dumps(run))
    (out / "CURRENT").write_text(run_id + "\n")
    os.symlink(f"snapshots/{run_id}", out / "current")
    for name in ("clips", "frames", "samples", "errors", "run.json"):
        os.symlink(f"current/{name}", out / name)
    return run_id


def test_the_old_layout_is_migrated_with_one_line(tmp_path, capsys):
    out = tmp_path / "O"
    out.mkdir()
    run_id = _old_layout(out)
    with pytest.raises(OldLayout, match="migrates it"):
        live_snapshot(str(out))
    said = []
    finish_interrupted_commit(str(out), said.append)
    assert len(said) == 1 and "migrating" in said[0]
    live = live_snapshot(str(out))
    assert live.run_id == run_id and live.run["tables"]["clips"] == 0
    assert read_table(live.files("clips"), CLIPS_SCHEMA, ["clip_id"]).column("clip_id").to_pylist() == ["A"]
    assert not (out / "snapshots").exists() and not (out / "CURRENT").exists() and not (out / "current").exists()
    assert (out / "clips" / run_id / "part-0.parquet").exists() and not os.path.islink(out / "clips")
    finish_interrupted_commit(str(out), said.append)  # nothing left to do
    assert len(said) == 1


def test_as_of_takes_a_date_a_timestamp_or_a_run_id():
    assert parse_as_of("20261101T020000Z-abc123") == ("20261101T020000Z-abc123", None)
    assert parse_as_of("2026-11-01") == (None, dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc))
    assert parse_as_of("2026-11-01T06:00:00Z")[1] == dt.datetime(2026, 11, 1, 6, tzinfo=dt.timezone.utc)
    with pytest.raises(ValueError, match="expected a date"):
        parse_as_of("last tuesday")
