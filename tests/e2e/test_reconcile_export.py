"""Acceptance: real clips whose file names repeat on every device, against an evidence-system export.

The corpus: DEV01..DEV03, each numbering its clips from GX010001.MP4 (real H.264 made by
`synth`, moved into that layout; their creation_time is the recording time). The export has
evidence IDs, `Device Serial`, local US-style `Recorded On`, whole-second `HH:MM:SS` durations
and `47.8 MB`-style sizes, as evidence systems write them.
"""

import json
import os
import shutil
import subprocess

import pytest

from bench.corpus.synthetic_index import hhmmss, human_size
from pipeline.synth import Condition, synth
from tests.support.runs import run_cli
from tests.support.reconcile_checks import assert_counts_add_up
from tests.support.tables import read_table as read_index_table

DEVICES, PER_DEVICE, FPS = 3, 3, 30
ZONE = "America/Chicago"
DEVICE_PATTERN = r"/(?P<device_id>DEV\d+)/"
COLUMNS = ("clip_id=Evidence ID,uri=File Name,device_id=Device Serial,officer_id=Owner,"
           "recorded_at=Recorded On,expected_duration_s=Duration,size_bytes=File Size")
HEADER = ["Evidence ID", "File Name", "Device Serial", "Owner", "Recorded On", "Duration", "File Size"]
BLACK_CLIP = 4  # DEV02/GX010002.MP4: a covered lens for two seconds


def _export_rows(corpus, plans):
    import zoneinfo

    local = zoneinfo.ZoneInfo(ZONE)
    rows = []
    for number, plan in enumerate(plans):
        device, name = _place(number)
        path = corpus / "clips" / device / name
        rows.append({"Evidence ID": f"E-2026-{number + 1:05d}", "File Name": name, "Device Serial": device,
                     "Owner": f"OFC-{number % 2 + 1:04d}",
                     "Recorded On": plan.recorded_at.astimezone(local).strftime("%m/%d/%Y %I:%M:%S %p"),
                     "Duration": hhmmss(_seconds([plan.frame_count / FPS]))[0],
                     "File Size": human_size(_seconds([os.path.getsize(path)]).astype(int))[0]})
    return rows


def _seconds(values):
    import numpy as np

    return np.array(values)


def _place(number: int) -> tuple[str, str]:
    return f"DEV{number % DEVICES + 1:02d}", f"GX01{number // DEVICES + 1:04d}.MP4"


def _write_export(path, rows, drop=()):
    header = [h for h in HEADER if h not in drop]
    lines = [",".join(header)] + [",".join(row[h] for h in header) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def _columns(drop=()):
    return ",".join(part for part in COLUMNS.split(",") if part.split("=", 1)[1] not in drop)


def _index(corpus, out, *flags):
    result = run_cli("index", "--input", str(corpus / "clips/**/*.MP4"), "--output", str(out),
                     "--device-from-path", DEVICE_PATTERN, "--workers", "2", "--quiet", *flags)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("export_corpus")
    made = root / "made"
    plans = synth(str(made), clips=DEVICES * PER_DEVICE, hours=0.02, fps=FPS, seed=11,
                  conditions=[Condition("black", BLACK_CLIP, 1, 2)])
    corpus = root / "corpus"
    for number, plan in enumerate(plans):
        device, name = _place(number)
        (corpus / "clips" / device).mkdir(parents=True, exist_ok=True)
        shutil.move(str(made / plan.relpath), corpus / "clips" / device / name)
    rows = _export_rows(corpus, plans)
    _index(corpus, root / "index", "--decode", "keyframes", "--thumbnails")
    # The same corpus without DEV02/GX010002.MP4 (its name exists on DEV01 and DEV03).
    shutil.copytree(corpus, root / "corpus-minus")
    os.remove(root / "corpus-minus" / "clips" / "DEV02" / "GX010002.MP4")
    _index(root / "corpus-minus", root / "index-minus")
    return {"root": root, "rows": rows, "plans": plans}


def _reconcile(index, export, columns, tmp_path, *flags):
    report = tmp_path / "r.json"
    result = run_cli("reconcile", str(index), "--manifest", str(export), "--columns", columns,
                     "--manifest-tz", ZONE, "--json", str(report), *flags)
    assert result.returncode in (0, 1), result.stderr
    data = json.loads(report.read_text())
    assert_counts_add_up(data)
    return result, data


def test_complete_export_reconciles(corpus, tmp_path):
    export = tmp_path / "export.csv"
    _write_export(export, corpus["rows"])
    result, report = _reconcile(corpus["root"] / "index", export, COLUMNS, tmp_path)
    assert result.returncode == 0, result.stdout
    assert "RECONCILED" in result.stdout and report["discrepancy_counts"] == {}
    assert report["identity"]["expected"]["matched"] == DEVICES * PER_DEVICE
    assert {row["group"] for row in report["breakdowns"]["by_device"]} == {"DEV01", "DEV02", "DEV03"}


def test_a_removed_clip_is_one_missing_for_the_right_device(corpus, tmp_path):
    export = tmp_path / "export.csv"
    _write_export(export, corpus["rows"])
    result, report = _reconcile(corpus["root"] / "index-minus", export, COLUMNS, tmp_path)
    assert result.returncode == 1
    (missing,) = report["discrepancies"]
    assert missing["kind"] == "missing" and missing["device_id"] == "DEV02"
    assert missing["uri"] == "GX010002.MP4" and missing["evidence_id"] == "E-2026-00005"
    assert missing["clip_id"] is None and missing["manifest_row"] == 6 and missing["officer_id"] == "OFC-0001"
    assert "missing           GX010002.MP4 [device DEV02, evidence E-2026-00005, manifest row 6" in result.stdout
    assert report["identity"]["expected"]["matched"] == DEVICES * PER_DEVICE - 1


def test_without_device_and_time_the_rows_are_ambiguous_not_matched(corpus, tmp_path):
    export = tmp_path / "export.csv"
    dropped = ("Device Serial", "Recorded On")
    _write_export(export, corpus["rows"], drop=dropped)
    result, report = _reconcile(corpus["root"] / "index", export, _columns(dropped), tmp_path,
                                "--html", str(tmp_path / "report.html"))
    assert result.returncode == 1
    assert report["discrepancy_counts"] == {"ambiguous": DEVICES * PER_DEVICE}
    assert report["identity"]["expected"]["matched"] == 0
    assert report["identity"]["indexed"]["ambiguous"] == DEVICES * PER_DEVICE
    for row in report["discrepancies"]:
        assert f"could be any of {DEVICES} index rows by file name" in row["detail"]
        assert all(f"/DEV0{d}/{row['uri']}" in row["detail"] for d in range(1, DEVICES + 1))
    page = (tmp_path / "report.html").read_text()
    assert "Ambiguous matches" in page and "none picked" in page


def test_report_shows_picture_problems_with_embedded_contact_sheets(corpus, tmp_path):
    export = tmp_path / "export.csv"
    _write_export(export, corpus["rows"])
    html_path = tmp_path / "report.html"
    result, report = _reconcile(corpus["root"] / "index", export, COLUMNS, tmp_path, "--html", str(html_path))
    (worst,) = [c for c in report["qa_top"] if c["qa_dark_s"] > 0]
    assert worst["uri"].endswith("DEV02/GX010002.MP4") and worst["qa_dark_s"] == pytest.approx(2.0, abs=1.0)
    page = html_path.read_text()
    assert "data:image/jpeg;base64," in page and "http://" not in page and "<script" not in page
    assert "expected 9 = matched 9 + listed copies 0 + missing 0 + ambiguous 0" in page
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium not installed")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", html_path.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert "Picture problems" in dom and 'src="data:image/jpeg;base64,' in dom and "RECONCILED" in dom


def test_index_stores_each_clips_device(corpus):

    clips = read_index_table(corpus["root"] / "index", "clips", columns=["uri", "device_id"]).to_pylist()
    assert all(c["device_id"] == c["uri"].rsplit("/", 2)[-2] for c in clips) and len(clips) == 9


@pytest.mark.parametrize("flags,says", [
    (["--columns", "clip=Evidence ID"], "unknown field clip"),
    (["--columns", "device_id=Serial"], "no column `Serial`"),
    (["--manifest-tz", "Mars/Olympus"], "unknown time zone"),
    (["--tz", "Nowhere"], "unknown time zone"),
    (["--hours-tolerance", "a lot"], "a percentage"),
    (["--device-from-path", "DEV(\\d+)"], "named group"),
    (["--basis", "audio"], "invalid choice"),
])
def test_bad_reconcile_flags_are_one_line_and_exit_2(corpus, tmp_path, capsys, flags, says):
    from tests.support.runs import usage_error as _usage_error

    export = tmp_path / "export.csv"
    _write_export(export, corpus["rows"])
    assert says in _usage_error(capsys, "reconcile", str(corpus["root"] / "index"), "--manifest", str(export),
                                *flags)


def test_bad_device_pattern_on_index_is_exit_2(tmp_path, capsys):
    from tests.support.runs import usage_error as _usage_error

    line = _usage_error(capsys, "index", "--input", str(tmp_path / "x/*.mp4"), "--output", str(tmp_path / "O"),
                        "--device-from-path", "([")
    assert "not a regular expression" in line and not (tmp_path / "O").exists()


@pytest.mark.parametrize("command", ["reconcile", "index"])
def test_help_lists_the_new_flags(capsys, command):
    from pipeline.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "--device-from-path" in out
    if command == "reconcile":
        assert all(flag in out for flag in ("--columns", "--manifest-tz", "--time-tolerance-s", "--basis", "--tz",
                                            "default: 0.05%"))
