"""Clip ids survive a remount: they are made from the path below the archive root.

A camera export (two device folders, both holding a GX010001.MP4) is indexed from two
`--input` patterns, moved to another folder, and indexed again from there: nothing is read,
nothing is new or removed, the removal guard stays quiet, and every id is the same; in the Delta
tables that night removes the clips files and adds their rebased copies, and leaves the frames
alone. An index of the old id scheme (SHA-1 of the absolute uri, schema 2) is migrated without
reading, from the Delta layout and from the snapshots/ layout it was written in.
"""

import hashlib
import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.footage import camera_export
from tests.support.runs import run_cli
from tests.support.tables import read_table
from transforms.storage import delta_log
from transforms.storage.snapshots import live_snapshot


def _index(footage, out, *extra):
    result = run_cli("index", "--input", str(footage / "GoPro-A"), "--input", str(footage / "GoPro-B" / "*.MP4"),
                     "--output", str(out), "--workers", "2", "--decode", "keyframes", "--thumbnails", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "run.json").read_text()), result


def _ids(out):
    clips = read_table(out, "clips", columns=["clip_id", "uri"]).to_pylist()
    return {row["clip_id"]: row["uri"] for row in clips}


def _sheets(out):
    return {path.stem for path in (out / "thumbs").glob("*.jpg")}


def _night_actions(out, table, run):
    """(paths removed, paths added) by the run's commit of one table."""
    before = delta_log.read_state(str(out / table), run["tables"][table] - 1)
    after = delta_log.read_state(str(out / table), run["tables"][table])
    return set(before.files) - set(after.files), set(after.files) - set(before.files)


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
    assert _sheets(out) == set(after)
    # One commit per table: the clips files of night 1 removed, their rebased copies added; the
    # frames files kept by reference; nothing rebased left that the night does not name.
    removed, added = _night_actions(out, "clips", second)
    assert removed == set(delta_log.read_state(str(out / "clips"), first["tables"]["clips"]).files)
    assert added and all(path.startswith(f"{second['run_id']}/rebased/") for path in added)
    assert _night_actions(out, "frames", second) == (set(), set())
    live = {path for table in ("clips", "frames", "samples", "errors")
            for path in live_snapshot(str(out)).files(table)}
    assert {str(p) for p in out.glob(f"*/{second['run_id']}/rebased/*")} <= live
    third, _ = _index(moved, out)
    assert third["reindexed"] == 0 and third["changes"]["archive_moved"] is None


def _old_ids(live_files: dict, rewrite) -> dict:
    """Give the clips and frames files the ids of schema 2 (SHA-1 of the absolute uri), in place;
    returns {id: schema-2 id}."""
    old = {}
    for table in ("clips", "frames"):
        for path in live_files[table]:
            data = pq.read_table(path)
            if table == "clips":
                uris = data.column("uri").to_pylist()
                old.update({row: hashlib.sha1(uri.encode()).hexdigest()[:16]
                            for row, uri in zip(data.column("clip_id").to_pylist(), uris)})
            data = data.set_column(data.column_names.index("clip_id"), "clip_id",
                                   pa.array([old.get(i, i) for i in data.column("clip_id").to_pylist()]))
            rewrite(path, data)
    return old


def _rename_sheets(folder, old: dict) -> None:
    for path in list(folder.glob("*.jpg")):
        path.rename(folder / f"{old[path.stem]}.jpg")


def _schema_2(run: dict) -> dict:
    run["options_key"].pop("archive_root")
    run["options_key"]["schema_version"] = "2"
    return run


def _as_schema_2_delta(out) -> None:
    """A schema-2 index in the Delta layout: the live files rewritten in place, run.json's key."""
    live = live_snapshot(str(out))
    old = _old_ids({t: live.files(t) for t in ("clips", "frames")}, lambda path, data: pq.write_table(data, path))
    _rename_sheets(out / "thumbs", old)
    (out / "run.json").write_text(json.dumps(_schema_2(live.run)))


def _as_schema_2_snapshots(out) -> None:
    """What a schema-2 index really is: the snapshots/ + CURRENT layout (symlinks locally)."""
    live = live_snapshot(str(out))
    run_id = live.run_id
    snapshot = out / "snapshots" / run_id
    for table in ("clips", "frames", "samples", "errors"):
        (snapshot / table).mkdir(parents=True)
        for number, path in enumerate(live.files(table)):
            shutil.copyfile(path, snapshot / table / f"part-{number}.parquet")
    old = _old_ids({t: sorted(str(p) for p in (snapshot / t).glob("*.parquet")) for t in ("clips", "frames")},
                   lambda path, data: pq.write_table(data, path))
    shutil.move(str(out / "thumbs"), snapshot / "thumbs")
    _rename_sheets(snapshot / "thumbs", old)
    run = _schema_2({k: v for k, v in live.run.items() if k not in ("tables", "seq")})
    (snapshot / "run.json").write_text(json.dumps(run))
    for name in ("clips", "frames", "samples", "errors", "matches", "reconcile", "run.json", "_commit", "_work"):
        if (out / name).is_dir():
            shutil.rmtree(out / name)
        elif (out / name).exists():
            (out / name).unlink()
    (out / "runs" / f"{run_id}.json").write_text(json.dumps(run))
    (out / "CURRENT").write_text(run_id + "\n")
    os.symlink(f"snapshots/{run_id}", out / "current")
    for name in ("clips", "frames", "samples", "errors", "thumbs", "run.json"):
        os.symlink(f"current/{name}", out / name)


@pytest.mark.parametrize("layout", ["delta", "snapshots"])
def test_an_index_of_absolute_uri_ids_is_migrated_without_reading(indexed, layout):
    footage, out, first = indexed
    (_as_schema_2_delta if layout == "delta" else _as_schema_2_snapshots)(out)

    second, result = _index(footage, out)
    assert second["reindexed"] == 0 and second["changes"]["archive_moved"]["clip_ids_rewritten"]
    assert "clip ids migrated" in result.stderr
    assert ("migrating" in result.stderr) == (layout == "snapshots")
    ids = _ids(out)
    assert hashlib.sha1(b"GoPro-B/GX010001.MP4").hexdigest()[:16] in ids
    frames = set(read_table(out, "frames", columns=["clip_id"]).column("clip_id").to_pylist())
    assert frames == set(ids)
    assert _sheets(out) == set(ids)  # the sheets renamed with their clips, none read again
    assert second["options_key"]["schema_version"] == first["options_key"]["schema_version"]
