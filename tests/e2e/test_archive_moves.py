"""Clip ids survive a remount: they are made from the path below the archive root.

A camera export (two device folders, both holding a GX010001.MP4) is indexed from two
`--input` patterns, moved to another folder, and indexed again from there: nothing is read,
nothing is new or removed, the removal guard stays quiet, and every id is the same. An index
of the old id scheme (SHA-1 of the absolute uri, schema 2) is migrated without reading.
"""

import hashlib
import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.footage import camera_export
from tests.support.runs import run_cli


def _index(footage, out, *extra):
    result = run_cli("index", "--input", str(footage / "GoPro-A"), "--input", str(footage / "GoPro-B" / "*.MP4"),
                     "--output", str(out), "--workers", "2", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "run.json").read_text()), result


def _ids(out):
    clips = pq.read_table(str(out / "clips"), columns=["clip_id", "uri"]).to_pylist()
    return {row["clip_id"]: row["uri"] for row in clips}


@pytest.fixture
def indexed(small_corpus, tmp_path):
    footage = camera_export(small_corpus, tmp_path / "mount-a")
    out = tmp_path / "index"
    first, _ = _index(footage, out)
    return footage, out, first


def test_two_inputs_under_one_root_never_collide(indexed):
    footage, out, first = indexed
    ids = _ids(out)
    assert first["options_key"]["archive_root"] == str(footage)
    for name in ("GoPro-A/GX010001.MP4", "GoPro-B/GX010001.MP4"):
        assert hashlib.sha1(name.encode()).hexdigest()[:16] in ids


def test_a_moved_archive_reads_nothing_and_removes_nothing(indexed, tmp_path):
    footage, out, first = indexed
    before = _ids(out)
    moved = tmp_path / "mount-b" / "footage"
    moved.parent.mkdir()
    shutil.move(str(footage), moved)
    second, result = _index(moved, out)
    changes = second["changes"]
    assert second["reindexed"] == 0 and second["carried_forward"] == first["indexed"]
    assert changes["new"]["count"] == 0 and changes["removed"]["count"] == 0 and not changes["full_reindex_reason"]
    assert changes["archive_moved"]["from"] == str(footage) and changes["archive_moved"]["to"] == str(moved)
    assert "run stopped" not in result.stderr
    after = _ids(out)
    assert set(after) == set(before)
    assert all(uri.startswith(str(moved) + "/") for uri in after.values())
    assert not (out / "current" / ".rebased").exists()
    third, _ = _index(moved, out)
    assert third["reindexed"] == 0 and third["changes"]["archive_moved"] is None


def test_an_index_of_absolute_uri_ids_is_migrated_without_reading(indexed):
    footage, out, first = indexed
    live = out / "current"
    for table in ("clips", "frames"):
        for path in (live / table).glob("*.parquet"):
            data = pq.read_table(path)
            if table == "clips":
                uris = data.column("uri").to_pylist()
                old = {row: hashlib.sha1(uri.encode()).hexdigest()[:16]
                       for row, uri in zip(data.column("clip_id").to_pylist(), uris)}
            data = data.set_column(data.column_names.index("clip_id"), "clip_id",
                                   pa.array([old.get(i, i) for i in data.column("clip_id").to_pylist()]))
            path.unlink()
            pq.write_table(data, path)
    run = json.loads((live / "run.json").read_text())
    run["options_key"].pop("archive_root")
    run["options_key"]["schema_version"] = "2"
    (live / "run.json").write_text(json.dumps(run))

    second, result = _index(footage, out)
    assert second["reindexed"] == 0 and second["changes"]["archive_moved"]["clip_ids_rewritten"]
    assert "clip ids migrated" in result.stderr
    ids = _ids(out)
    assert hashlib.sha1(b"GoPro-B/GX010001.MP4").hexdigest()[:16] in ids
    frames = set(pq.read_table(str(out / "frames"), columns=["clip_id"]).column("clip_id").to_pylist())
    assert frames == set(ids)
