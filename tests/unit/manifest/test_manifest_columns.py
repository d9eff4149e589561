"""Exports as evidence systems write them: column mapping, durations, sizes, times (pure functions)."""

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.manifest.read import read_manifest
from transforms.manifest.columns import ManifestProblem, Where, parse_mapping
from transforms.manifest.times import get_zone, local_dates, parse_times
from transforms.manifest.values import parse_durations, parse_sizes

WHERE = Where("export.csv", "Duration", "expected_duration_s")
UTC = dt.timezone.utc
CHICAGO = get_zone("America/Chicago")


def test_mapping_inline_json_and_toml_say_the_same(tmp_path):
    inline = "clip_id=Evidence ID, uri=File Name,device_id=Device Serial"
    (tmp_path / "m.json").write_text(json.dumps({"clip_id": "Evidence ID", "uri": "File Name",
                                                 "device_id": "Device Serial"}))
    (tmp_path / "m.toml").write_text('clip_id = "Evidence ID"\nuri = "File Name"\ndevice_id = "Device Serial"\n')
    expected = {"clip_id": "Evidence ID", "uri": "File Name", "device_id": "Device Serial"}
    assert parse_mapping(inline) == parse_mapping(f"@{tmp_path / 'm.json'}") == \
        parse_mapping(f"@{tmp_path / 'm.toml'}") == expected
    assert parse_mapping(None) == {}


@pytest.mark.parametrize("spec,says", [
    ("clip=Evidence ID", "unknown field clip"),
    ("clip_id", "should look like field=Export Column"),
    ("clip_id=A,clip_id=B", "mapped twice"),
    ("clip_id=A,uri=A", "`A` is mapped to two fields"),
    ("@/nonexistent/m.json", "cannot read column mapping"),
])
def test_bad_mapping_is_one_clear_problem(spec, says):
    with pytest.raises(ManifestProblem, match=None) as caught:
        parse_mapping(spec)
    assert says in str(caught.value)


def test_durations_seconds_and_clock_forms_with_their_units():
    values, units = parse_durations(pa.array(["65", "65.25", "1:05", "01:01:05.250", None, ".5", "75:00"]), WHERE)
    assert values[:4].tolist() == [65.0, 65.25, 65.0, 3665.25] and np.isnan(values[4])
    assert values[5:].tolist() == [0.5, 4500.0]
    assert units[:4].tolist() == [1.0, 0.01, 1.0, 0.001] and units[5] == pytest.approx(0.1)


@pytest.mark.parametrize("bad", ["-3", "1:60", "1:60:00", "ten", "1::2", "."])
def test_bad_duration_names_row_column_and_value(bad):
    with pytest.raises(ManifestProblem) as caught:
        parse_durations(pa.array(["1", bad]), WHERE)
    assert str(caught.value) == (f"manifest export.csv row 3 column `Duration` (expected_duration_s): "
                                 f"not a number of seconds or [H:]MM:SS[.fff]: {bad!r}")


def test_sizes_si_and_binary_units_with_their_rounding():
    values, units = parse_sizes(pa.array(["48213", "47.8 MB", "12 KiB", "1.2GB", "3 bytes", "0.5kb"]), WHERE)
    assert values.tolist() == [48213, 47_800_000, 12_288, 1_200_000_000, 3, 500]
    assert units.tolist() == [1, 100_000, 1024, 100_000_000, 1, 100]


@pytest.mark.parametrize("bad", ["1,234", "12 XB", "MB", "1.2.3"])
def test_bad_size_is_refused(bad):
    with pytest.raises(ManifestProblem, match="not a size"):
        parse_sizes(pa.array([bad]), WHERE)


@pytest.mark.parametrize("text,zone,expected,unit_s", [
    ("2026-01-05T07:00:00Z", None, dt.datetime(2026, 1, 5, 7, tzinfo=UTC), 1),
    ("2026-01-05 01:00:00.250-06:00", CHICAGO, dt.datetime(2026, 1, 5, 7, 0, 0, 250000, tzinfo=UTC), 0.001),
    ("2026-01-05T07:00:00", CHICAGO, dt.datetime(2026, 1, 5, 13, tzinfo=UTC), 1),
    ("2026-07-04T12:00", CHICAGO, dt.datetime(2026, 7, 4, 17, tzinfo=UTC), 60),  # daylight saving: -5 h
    ("01/05/2026 07:00:00 AM", CHICAGO, dt.datetime(2026, 1, 5, 13, tzinfo=UTC), 1),
    ("1/5/2026 7:00 PM", None, dt.datetime(2026, 1, 5, 19, tzinfo=UTC), 60),
    ("12/31/2025 12:00:00 AM", None, dt.datetime(2025, 12, 31, 0, tzinfo=UTC), 1),
    ("01/05/2026 19:00", None, dt.datetime(2026, 1, 5, 19, tzinfo=UTC), 60),
    ("20260105070000", None, dt.datetime(2026, 1, 5, 7, tzinfo=UTC), 1),
    ("2026-01-05", None, dt.datetime(2026, 1, 5, tzinfo=UTC), 86400),
])
def test_times_in_every_accepted_form(text, zone, expected, unit_s):
    times, units = parse_times(pa.array([text]), Where("m.csv", "Recorded On", "recorded_at"), zone)
    assert times.to_pylist() == [expected] and units.tolist() == [pytest.approx(unit_s)]


@pytest.mark.parametrize("bad", ["02/30/2026 07:00 AM", "13/01/2026", "2026-13-01", "01/05/2026 13:00 PM",
                                 "yesterday", "2026-01-05T25:00:00", "20260230070000", "2026-02-29"])
def test_impossible_times_are_refused_with_the_row(bad):
    with pytest.raises(ManifestProblem) as caught:
        parse_times(pa.array(["2026-01-05", bad]), Where("m.csv", "Recorded On", "recorded_at"), None)
    assert "row 3 column `Recorded On` (recorded_at)" in str(caught.value) and repr(bad) in str(caught.value)


def test_local_days_follow_the_zone():
    utc_us = np.array([dt.datetime(2026, 1, 5, 5, 59, tzinfo=UTC).timestamp(),
                       dt.datetime(2026, 1, 5, 6, 0, tzinfo=UTC).timestamp()]) * 1e6
    assert [str(d) for d in local_dates(utc_us.astype(np.int64), CHICAGO)] == ["2026-01-04", "2026-01-05"]
    assert [str(d) for d in local_dates(utc_us.astype(np.int64), None)] == ["2026-01-05", "2026-01-05"]


EXPORT = ('Evidence ID,File Name,Device Serial,Recorded On,Duration,File Size\n'
          'E-1,GX010001.MP4,DEV01,01/05/2026 07:00:00 AM,00:04:07,47.8 MB\n'
          'E-2,GX010001.MP4,DEV02,01/05/2026 07:10:00 AM,00:01:00,1.2 GB\n')
MAPPING = {"clip_id": "Evidence ID", "uri": "File Name", "device_id": "Device Serial",
           "recorded_at": "Recorded On", "expected_duration_s": "Duration", "size_bytes": "File Size"}


def test_an_export_read_through_its_mapping(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(EXPORT)
    table = read_manifest(str(path), require_duration=True, mapping=MAPPING, zone=CHICAGO, resolve_names=False)
    rows = table.to_pylist()
    assert [r["uri"] for r in rows] == ["GX010001.MP4", "GX010001.MP4"]  # names repeat: not an error
    assert rows[0]["clip_id"] == "E-1" and rows[0]["device_id"] == "DEV01"
    assert rows[0]["expected_duration_s"] == 247 and rows[0]["duration_unit_s"] == 1
    assert rows[0]["size_bytes"] == 47_800_000 and rows[0]["size_unit_bytes"] == 100_000
    assert rows[1]["recorded_at"] == dt.datetime(2026, 1, 5, 13, 10, tzinfo=UTC)


def test_export_errors_name_the_export_column(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(EXPORT.replace("00:01:00", "1 minute"))
    with pytest.raises(ManifestProblem) as caught:
        read_manifest(str(path), require_duration=True, mapping=MAPPING, resolve_names=False)
    assert "row 3 column `Duration` (expected_duration_s): not a number of seconds" in str(caught.value)
    with pytest.raises(ManifestProblem, match="no column `Owner` \\(mapped by --columns"):
        read_manifest(str(path), mapping={**MAPPING, "officer_id": "Owner"}, resolve_names=False)


def test_typed_parquet_export(tmp_path):
    table = pa.table({"uri": ["/a/x.mp4", "/a/y.mp4"], "expected_duration_s": pa.array([12, 13], pa.int32()),
                      "recorded_at": pa.array([dt.datetime(2026, 1, 5, 7), None], pa.timestamp("ms")),
                      "size_bytes": pa.array([1000, 2000], pa.int64())})
    pq.write_table(table, tmp_path / "m.parquet")
    rows = read_manifest(str(tmp_path / "m.parquet"), require_duration=True, zone=CHICAGO).to_pylist()
    assert rows[0]["expected_duration_s"] == 12 and rows[0]["duration_unit_s"] == 1  # whole seconds
    assert rows[0]["recorded_at"] == dt.datetime(2026, 1, 5, 13, tzinfo=UTC) and rows[1]["recorded_at"] is None
    assert rows[1]["size_bytes"] == 2000 and rows[1]["size_unit_bytes"] == 1
