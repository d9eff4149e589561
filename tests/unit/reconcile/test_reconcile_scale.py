"""Reconcile at Boston scale and the copy kinds, on synthetic clips tables in the index layout.

Reconcile reads only the tables, so these tests write them as Parquet (bench/corpus/synthetic_index.py)
instead of encoding 38,200 clips; the acceptance corpus of real clips is tests/e2e/test_reconcile_export.py.
"""

import datetime as dt
import json
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bench.corpus.synthetic_index import columns_flag, export_table, synthetic_clips, write_export, write_index
from tests.support.runs import run_cli
from tests.support.reconcile_checks import assert_counts_add_up
from transforms.manifest.read import read_manifest
from transforms.manifest.columns import parse_mapping
from transforms.manifest.times import get_zone
from transforms.reconcile.compare import Expectations, reconcile
from transforms.storage.snapshots import live_snapshot

BOSTON_CLIPS = 38_200
DEVICES = r"/(?P<device_id>DEV\d+)/"


def _reconcile_cli(index, export, tmp_path, *flags):
    report = tmp_path / "r.json"
    result = run_cli("reconcile", str(index), "--manifest", str(export), "--columns", columns_flag(),
                     "--manifest-tz", "America/Chicago", "--json", str(report), *flags)
    assert result.returncode in (0, 1), result.stderr
    return result, json.loads(report.read_text())


@pytest.fixture(scope="module")
def boston(tmp_path_factory):
    root = tmp_path_factory.mktemp("boston")
    clips = synthetic_clips(BOSTON_CLIPS, store_device=True)
    write_index(str(root / "index"), clips, options_key={"device_from_path": DEVICES})
    write_export(str(root / "export.csv"), export_table(clips))  # whole seconds of the container, truncated
    return root, clips


def test_boston_export_in_whole_seconds_reconciles_with_default_tolerances(boston, tmp_path):
    root, clips = boston
    started = time.monotonic()
    result, report = _reconcile_cli(root / "index", root / "export.csv", tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert time.monotonic() - started < 20
    assert report["reconciled"] and report["discrepancy_counts"] == {}
    assert report["identity"]["expected"]["matched"] == BOSTON_CLIPS
    assert {c["name"]: c["ok"] for c in report["checks"]} == {"manifest videos": True, "manifest hours": True}
    assert_counts_add_up(report)


def test_a_real_20_s_shortfall_in_one_clip_is_found(boston, tmp_path):
    root, clips = boston
    short = 12_345
    durations = clips.column("duration_s").to_numpy().copy()
    containers = clips.column("container_duration_s").to_numpy().copy()
    durations[short] -= 20
    containers[short] -= 20
    cut = clips.set_column(clips.schema.get_field_index("duration_s"), "duration_s", pa.array(durations))
    cut = cut.set_column(cut.schema.get_field_index("container_duration_s"), "container_duration_s",
                         pa.array(containers))
    write_index(str(tmp_path / "index"), cut, options_key={"device_from_path": DEVICES})
    for basis in ("video", "container"):
        result, report = _reconcile_cli(tmp_path / "index", root / "export.csv", tmp_path, "--basis", basis)
        assert result.returncode == 1
        (found,) = report["discrepancies"]
        assert found["kind"] == "duration_mismatch" and found["uri"] == clips.column("uri")[short].as_py()
        assert found["indexed_duration_s"] - found["expected_duration_s"] == pytest.approx(-20, abs=1.1)
        assert all(c["ok"] for c in report["checks"])  # 20 s is far inside the totals' tolerance
        assert_counts_add_up(report)


def _in_process(index_dir, clips_export, tmp_path, **expect):
    path = tmp_path / "export.csv"
    write_export(str(path), clips_export)
    manifest = read_manifest(str(path), require_duration=True, mapping=parse_mapping(columns_flag()),
                             zone=get_zone("America/Chicago"), resolve_names=False)
    result = reconcile(live_snapshot(str(index_dir)), Expectations(manifest=manifest, **expect))
    report = json.loads(json.dumps(result.to_json(), default=str))
    assert_counts_add_up(report)
    return result, report


def _set(clips, name, values, kind):
    index = clips.schema.get_field_index(name)
    array = pa.array(values, kind)
    return clips.set_column(index, name, array) if index >= 0 else clips.append_column(name, array)


def test_both_copies_listed_one_duplicate_no_missing(tmp_path):
    clips = synthetic_clips(50)
    sha = clips.column("sha256").to_pylist()
    sha[7] = sha[3]  # clip 7 holds the same bytes as clip 3, under another name
    clips = _set(clips, "sha256", sha, pa.string())
    write_index(str(tmp_path / "index"), clips)
    result, report = _in_process(tmp_path / "index", export_table(clips), tmp_path, device_from_path=DEVICES)
    assert report["discrepancy_counts"] == {"duplicate": 1}
    (copy,) = report["discrepancies"]
    assert copy["manifest_row"] is not None and "lists it too" in copy["detail"]
    assert report["identity"]["expected"] == {"total": 50, "matched": 49, "listed_copies": 1, "missing": 0,
                                              "ambiguous": 0}
    assert all(c["ok"] for c in report["checks"]) and report["totals"]["videos"] == 49


def test_excerpts_from_the_clips_table_are_their_own_kind(tmp_path):
    clips = synthetic_clips(30)
    ids = clips.column("clip_id").to_pylist()
    excerpt_of, offsets = [None] * 30, [None] * 30
    excerpt_of[5], offsets[5] = ids[2], 12.5   # unlisted: an excerpt, not unexpected
    excerpt_of[9], offsets[9] = ids[4], 3.0    # listed: reported once, not counted twice
    clips = _set(_set(clips, "excerpt_of", excerpt_of, pa.string()), "excerpt_offset_s", offsets, pa.float64())
    write_index(str(tmp_path / "index"), clips)
    listed = np.ones(30, dtype=bool)
    listed[5] = False
    result, report = _in_process(tmp_path / "index", export_table(clips.filter(pa.array(listed))), tmp_path,
                                 device_from_path=DEVICES)
    assert report["discrepancy_counts"] == {"excerpt": 2}
    details = {d["uri"]: d["detail"] for d in report["discrepancies"]}
    assert f"excerpt of {clips.column('uri')[2].as_py()}" in details[clips.column("uri")[5].as_py()]
    assert "from 12.500 s" in details[clips.column("uri")[5].as_py()]
    assert report["totals"]["videos"] == 28 and report["totals"]["excerpts"] == 2
    originals = np.delete(clips.column("duration_s").to_numpy(), [5, 9])
    assert report["totals"]["duration_s"] == pytest.approx(originals.sum())
    assert report["identity"]["indexed"]["excerpts"] == 2 and report["identity"]["expected"]["listed_copies"] == 1
    assert all(c["ok"] for c in report["checks"])
    assert result.copy_groups and {c["kind"] for g in result.copy_groups for c in g["copies"]} == {"excerpt"}


def test_days_in_the_local_zone_and_percentage_tolerance(tmp_path):
    # The first clips start at 05:00 UTC on January 1st: 23:00 in Chicago, the day before.
    clips = synthetic_clips(40, start=dt.datetime(2026, 1, 1, 1, 0, tzinfo=dt.timezone.utc))
    write_index(str(tmp_path / "index"), clips)
    utc, _ = _in_process(tmp_path / "index", export_table(clips), tmp_path, device_from_path=DEVICES)
    local, _ = _in_process(tmp_path / "index", export_table(clips), tmp_path, device_from_path=DEVICES,
                           tz=get_zone("America/Chicago"))
    days = {row["group"] for row in utc.breakdowns["by_day"]}
    local_days = {row["group"] for row in local.breakdowns["by_day"]}
    assert "2025-12-31" in local_days and "2025-12-31" not in days
    for result in (utc, local):
        assert sum(r["indexed_clips"] for r in result.breakdowns["by_day"]) == 40
    hours = float(pc.sum(clips.column("duration_s")).as_py()) / 3600
    strict = reconcile(live_snapshot(str(tmp_path / "index")),
                       Expectations(hours=hours * 1.0002, hours_tolerance="0.01%"))
    default = reconcile(live_snapshot(str(tmp_path / "index")), Expectations(hours=hours * 1.0002))
    assert not strict.checks[0]["ok"] and default.checks[0]["ok"]
    assert "0.05% of" in default.checks[0]["tolerance_detail"]
