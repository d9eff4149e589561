"""Acceptance (issue 22): what a records team reads after a vendor export is reconciled.

Three cameras (DEV01..DEV03), GoPro names repeating on each, a vendor CSV (`Evidence ID`,
`File Name`, `Device Serial`, `Recorded On` as `11/03/2026 02:15:07 PM`, `Duration` as
`00:07:12`, `File Size` as `47.8 MB`), and three nights: the first indexes 8 clips; the second
adds the 9th, a long-GOP re-encode (one keyframe: too few samples under --decode keyframes),
a remux of a listed clip whose path sorts first, and deletes one listed clip; the third drops
`--decode` and `--device-from-path` (a full re-read, no file changed). One row of the export
is eight months off, another's size is wrong.

The report is rendered by headless Chromium at 1300 and 800 px: its layout is measured by a
script added to a copy of it (the report itself has none), and screenshots are saved under
$CLIPINDEX_SCREENSHOTS (default: the test's tmp folder).
"""

import datetime as dt
import json
import os
import shutil
import subprocess
import zoneinfo

import numpy as np
import pytest

from bench.corpus.synthetic_index import hhmmss, human_size
from pipeline.synth import synth
from tests.support.reconcile_checks import assert_counts_add_up
from tests.support.runs import run_cli
from tests.support.tables import delta_table, read_table

DEVICES, PER_DEVICE, FPS = 3, 3, 30
ZONE = "America/Chicago"
PATTERN = r"/(?P<device_id>DEV\d+)/"
HEADER = ["Evidence ID", "File Name", "Device Serial", "Officer", "Recorded On", "Duration", "File Size"]
COLUMNS = ("clip_id=Evidence ID,uri=File Name,device_id=Device Serial,officer_id=Officer,"
           "recorded_at=Recorded On,expected_duration_s=Duration,size_bytes=File Size")
LATE, DELETED, REMUXED, REENCODED, OFF_IN_TIME, OFF_IN_SIZE = 8, 4, 1, 0, 6, 7


def _place(number):
    return f"DEV{number % DEVICES + 1:02d}", f"GX01{number // DEVICES + 1:04d}.MP4"


def _ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def _index(footage, out, *flags):
    result = run_cli("index", "--input", str(footage / "**/*.MP4"), "--output", str(out), "--workers", "2",
                     "--allow-removals", *flags)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "run.json").read_text()), result


def _reconcile(out, export, tmp, name, *flags):
    report, page = tmp / f"{name}.json", tmp / f"{name}.html"
    result = run_cli("reconcile", str(out), "--manifest", str(export), "--columns", COLUMNS, "--json",
                     str(report), "--html", str(page), "--tz", ZONE, *flags)
    assert result.returncode in (0, 1), result.stderr
    data = json.loads(report.read_text())
    assert_counts_add_up(data)
    return {"stdout": result.stdout, "stderr": result.stderr, "json": data, "html": page}


def _export(footage, plans, path):
    local = zoneinfo.ZoneInfo(ZONE)
    lines = [",".join(HEADER)]
    for number, plan in enumerate(plans):
        device, name = _place(number)
        size = os.path.getsize(footage / device / name) if number != DELETED else 5_000_000
        recorded = plan.recorded_at + (dt.timedelta(days=240) if number == OFF_IN_TIME else dt.timedelta(0))
        size = size + 3_000_000 if number == OFF_IN_SIZE else size
        row = [f"E-2026-{number + 1:05d}", name, device, f"OFC-{number % 2 + 1:04d}",
               recorded.astimezone(local).strftime("%m/%d/%Y %I:%M:%S %p"),
               hhmmss(np.array([plan.frame_count / FPS]))[0], human_size(np.array([size]))[0]]
        lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    plans = synth(str(root / "made"), clips=DEVICES * PER_DEVICE, hours=0.02, fps=FPS, seed=22)
    footage, held = root / "footage", root / "held"
    held.mkdir()
    for number, plan in enumerate(plans):
        device, name = _place(number)
        (footage / device).mkdir(parents=True, exist_ok=True)
        target = (held if number == LATE else footage / device) / name
        shutil.move(str(root / "made" / plan.relpath), target)
    export = root / "export.csv"
    shutil.copyfile(held / _place(LATE)[1], footage / _place(LATE)[0] / _place(LATE)[1])
    _export(footage, plans, export)
    os.remove(footage / _place(LATE)[0] / _place(LATE)[1])
    out = root / "index"
    first, _ = _index(footage, out, "--device-from-path", PATTERN, "--decode", "keyframes")
    # Night 2: the late clip arrives, a long-GOP re-encode and a remux appear, one listed clip goes.
    shutil.move(str(held / _place(LATE)[1]), footage / _place(LATE)[0] / _place(LATE)[1])
    device, name = _place(REENCODED)
    _ffmpeg("-i", str(footage / device / name), "-c:v", "libx264", "-g", "100000", "-keyint_min", "100000",
            "-sc_threshold", "0", "-an", str(footage / device / "REENCODED.MP4"))
    device, name = _place(REMUXED)
    _ffmpeg("-i", str(footage / device / name), "-c", "copy", "-movflags", "+faststart",
            str(footage / device / "A_REMUX.MP4"))
    device, name = _place(DELETED)
    os.remove(footage / device / name)
    second, indexed = _index(footage, out, "--device-from-path", PATTERN, "--decode", "keyframes")
    after_two = _reconcile(out, export, root, "night2", "--manifest-tz", ZONE)
    naive = _reconcile(out, export, root, "naive")
    # Night 3: no file changed, the options did.
    third, reread = _index(footage, out)
    after_three = _reconcile(out, export, root, "night3", "--manifest-tz", ZONE)
    return {"root": root, "footage": footage, "out": out, "runs": (first, second, third), "index_night2": indexed,
            "index_night3": reread, "night2": after_two, "naive": naive, "night3": after_three}


def _rows(report, kind=None):
    return [r for r in report["json"]["discrepancies"] if kind is None or r["kind"] == kind]


def test_every_discrepancy_carries_the_exports_ids(nights):
    report = nights["night2"]
    missing, = _rows(report, "missing")
    assert (missing["evidence_id"], missing["device_id"], missing["manifest_row"]) == ("E-2026-00005", "DEV02", 6)
    assert missing["clip_id"] is None and missing["officer_id"] == "OFC-0001"
    assert "[device DEV02, evidence E-2026-00005, manifest row 6" in report["stdout"]
    size, = _rows(report, "size_mismatch")
    assert size["evidence_id"] == "E-2026-00008" and size["clip_id"] and size["device_id"] == "DEV02"
    for row in _rows(report):
        assert row["device_id"], row
        if row["manifest_row"] is not None:
            assert row["evidence_id"] == f"E-2026-{row['manifest_row'] - 1:05d}"
    table = delta_table(nights["out"], "reconcile/discrepancies", version="latest").to_pyarrow_table()
    assert {"evidence_id", "officer_id", "manifest_row", "device_id"} <= set(table.column_names)


def test_ids_are_relative_to_the_archive_root(nights):
    import hashlib

    ids = set(read_table(nights["out"], "clips", columns=["clip_id"]).column("clip_id").to_pylist())
    assert hashlib.sha1(b"DEV01/GX010001.MP4").hexdigest()[:16] in ids
    assert nights["runs"][0]["options_key"]["archive_root"] == str(nights["footage"])


def test_the_picture_section_says_what_was_measured(nights):
    report = nights["night2"]
    qa = report["json"]["qa"]
    assert qa["decode"] == "keyframes" and qa["sampled_clips"] >= 9 and qa["sampled_frames"] > 0
    page = report["html"].read_text()
    assert "not measured" not in page and f"{qa['sampled_frames']:,} pictures sampled" in page
    assert [c["uri"].rsplit("/", 1)[-1] for c in qa["insufficient"]] == ["REENCODED.MP4"]
    assert "qa_insufficient_samples" in page and "--decode fps:1" in page
    second = nights["runs"][1]
    assert second["qa_insufficient_samples"]["count"] == 1
    assert "qa_insufficient_samples" in nights["index_night2"].stdout


def test_a_full_reread_is_named_and_since_last_run_counts_files(nights):
    third = nights["runs"][2]
    changes = {c["option"]: (c["from"], c["to"]) for c in third["changes"]["full_reindex_changes"]}
    assert changes["decode"] == ("keyframes", "none") and changes["device_from_path"] == (PATTERN, None)
    assert "decode changed from \"keyframes\" to \"none\"" in nights["index_night3"].stderr
    assert third["changes"]["new"]["count"] == 0 and third["changes"]["reread_unchanged"] == third["matched"]
    assert "since last run: new 0, changed 0, removed 0" in nights["night3"]["stdout"]


def test_the_listed_clip_stays_the_original_of_its_remux(nights):
    clips = {r["uri"].rsplit("/", 2)[-2] + "/" + r["uri"].rsplit("/", 1)[-1]: r
             for r in read_table(nights["out"], "clips").to_pylist()}
    device, name = _place(REMUXED)
    listed, remux = clips[f"{device}/{name}"], clips[f"{device}/A_REMUX.MP4"]
    assert listed["duplicate_of"] is None
    report = nights["night2"]
    for row in _rows(report, "duplicate"):
        assert row["uri"] != listed["uri"]
    if remux["duplicate_of"] is not None:
        assert remux["duplicate_of"] == listed["clip_id"]
        (group,) = [g for g in report["json"]["duplicate_groups"] if g["original"]["uri"] == listed["uri"]]
        assert remux["uri"] in [c["uri"] for c in group["copies"]]


def test_recording_times_are_cross_checked(nights):
    mismatch, = _rows(nights["night2"], "time_mismatch")
    assert mismatch["evidence_id"] == f"E-2026-{OFF_IN_TIME + 1:05d}" and "240 days before" in mismatch["detail"]
    assert "without a zone offset read as UTC; give --manifest-tz" in nights["naive"]["stderr"]
    assert "--manifest-tz" not in nights["night2"]["stderr"]


_MEASURE = """<script>
(function () {
  const lines = el => { const r = document.createRange(); r.selectNodeContents(el);
    const tops = new Set(); for (const b of r.getClientRects()) if (b.width > 0) tops.add(Math.round(b.top));
    return tops.size; };
  const broken = [];
  for (const el of document.querySelectorAll('.id, .num, td.n, .card .v'))
    if (el.textContent.trim() && lines(el) > 1) broken.push(el.textContent.trim());
  const charts = [...document.querySelectorAll('svg.chart')].map(svg => ({counts: svg.dataset.counts,
    x: [...svg.querySelectorAll('text.xl')].map(t => t.textContent),
    y: [...svg.querySelectorAll('text.yt')].map(t => t.textContent)}));
  const wide = [...document.querySelectorAll('body *')].filter(el => el.getBoundingClientRect().right >
    document.documentElement.clientWidth + 1).map(el => el.tagName + '.' + el.className).slice(0, 5);
  const out = {scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth,
    height: document.documentElement.scrollHeight, broken, charts, wide,
    titled: document.querySelectorAll('.path[title]').length};
  const pre = document.createElement('pre'); pre.id = 'measured'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def _chromium(tmp_path, *args):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}"]
    return subprocess.run(["chromium", *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("width", [1300, 800])
def test_the_report_reads_at_1300_and_800_px(nights, tmp_path, width):
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium not installed")
    page = nights["night2"]["html"]
    html = page.read_text()
    assert "<script" not in html
    measured_page = tmp_path / "measured.html"
    measured_page.write_text(html.replace("</body>", _MEASURE + "</body>"))
    dom = _chromium(tmp_path, f"--window-size={width},900", "--dump-dom", measured_page.as_uri()).stdout
    start = dom.index('<pre id="measured">') + len('<pre id="measured">')
    measured = json.loads(dom[start:dom.index("</pre>", start)].replace("&quot;", '"').replace("&amp;", "&"))
    assert measured["scrollWidth"] <= measured["clientWidth"], measured["wide"]
    assert measured["broken"] == [], measured["broken"]
    assert measured["titled"] > 0
    assert len(measured["charts"]) >= 2
    for chart in measured["charts"]:
        assert len(chart["x"]) == len(set(chart["x"])), chart
        if chart["counts"] == "1":
            assert all(float(y) == int(float(y)) for y in chart["y"]), chart
    folder = os.environ.get("CLIPINDEX_SCREENSHOTS") or str(tmp_path)
    os.makedirs(folder, exist_ok=True)
    shot = os.path.join(folder, f"report-{width}px.png")
    _chromium(tmp_path, f"--window-size={width},{min(measured['height'], 12000)}", f"--screenshot={shot}",
              page.as_uri())
    assert os.path.getsize(shot) > 10_000
    cards = html[html.index('<div class="cards">'):html.index("<h2>Discrepancies")]
    for title in ("videos", "hours", "missing", "unexpected", "unreadable", "duplicates"):
        assert f'<div class="muted">{title}</div>' in cards
    assert "excludes" in cards and " h (" not in cards.split("hours")[0]


def test_container_names_the_format(nights):
    # FFmpeg's family string (`mov,mp4,m4a,3gp,3g2,mj2`) was in every row; a QuickTime file named
    # `.MP4` is told apart in tests/unit/clip/test_container_name.py.
    clips = read_table(nights["out"], "clips", columns=["uri", "container"]).to_pylist()
    assert clips and {row["container"] for row in clips} == {"mp4"}, clips
