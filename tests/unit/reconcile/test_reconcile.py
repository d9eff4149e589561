"""Reconciliation against a manifest: every discrepancy kind, bad manifests, the report."""

import glob
import json
import os
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest

from pipeline.synth import synth
from tests.support.runs import run_cli
from tests.support.reconcile_checks import assert_counts_add_up
from transforms.manifest.read import ManifestProblem, read_manifest
from deltalake import DeltaTable

from tests.support.tables import read_table as read_index_table


def _clips(corpus):
    return sorted(glob.glob(str(corpus / "clips/**/*.mp4"), recursive=True))


@pytest.fixture(scope="module")
def damaged(tmp_path_factory, small_corpus):
    """The corpus after: 3 deleted, 2 copied under new names, 1 truncated, 2 unlisted added."""
    root = tmp_path_factory.mktemp("damaged")
    corpus = root / "corpus"
    shutil.copytree(small_corpus, corpus)
    manifest = (corpus / "manifest.csv").read_text().replace(str(small_corpus), str(corpus))
    (corpus / "manifest.csv").write_text(manifest)
    clips = _clips(corpus)
    deleted, copied, truncated = clips[0:3], clips[3:5], clips[5]
    for path in deleted:
        os.remove(path)
    copies = []
    for path in copied:
        copy = os.path.join(os.path.dirname(path), "copy-of-" + os.path.basename(path))
        shutil.copyfile(path, copy)
        copies.append(copy)
    size = os.path.getsize(truncated)
    with open(truncated, "r+b") as handle:
        handle.truncate(int(size * 0.6))
    extra = synth(str(root / "extra"), clips=2, hours=0.005, seed=99)
    unlisted = []
    for plan in extra:
        target = corpus / "clips" / "unlisted" / os.path.basename(plan.relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(root / "extra" / plan.relpath), target)
        unlisted.append(str(target))
    index = run_cli("index", "--input", str(corpus / "clips/**/*.mp4"), "--output", str(root / "index"))
    assert index.returncode == 0, index.stderr
    return {"root": root, "corpus": corpus, "deleted": deleted, "copies": copies,
            "truncated": truncated, "unlisted": unlisted}


def test_exactly_the_eight_discrepancies(damaged):
    root = damaged["root"]
    result = run_cli("reconcile", str(root / "index"), "--manifest", str(damaged["corpus"] / "manifest.csv"),
                     "--json", str(root / "r.json"))
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((root / "r.json").read_text())
    found = sorted((d["kind"], d["uri"]) for d in report["discrepancies"])
    expected = sorted([("missing", u) for u in damaged["deleted"]]
                      + [("duplicate", u) for u in damaged["copies"]]
                      + [("truncated", damaged["truncated"])]
                      + [("unexpected", u) for u in damaged["unlisted"]])
    assert found == expected
    table = DeltaTable(str(root / "index/reconcile/discrepancies")).to_pyarrow_table()
    assert table.num_rows == 8
    # Totals add up: 12 listed - 3 deleted + 2 unlisted = 11 videos; the 2 copies are
    # duplicates, counted apart and not in the hours.
    totals = report["totals"]
    assert totals["videos"] == 11 and totals["duplicates"] == 2
    clips = read_index_table(root / "index", "clips").to_pylist()
    originals = [c for c in clips if c["uri"] not in damaged["copies"]]
    assert totals["hours"] == pytest.approx(sum(c["duration_s"] for c in originals) / 3600)
    by_day = report["breakdowns"]["by_day"]
    assert sum(row["indexed_clips"] for row in by_day) == 11
    assert sum(row["expected_clips"] for row in by_day) == 12
    assert_counts_add_up(report)
    assert report["identity"]["expected"] == {"total": 12, "matched": 9, "listed_copies": 0, "missing": 3,
                                              "ambiguous": 0}
    assert report["identity"]["indexed"] == {"total": 13, "matched": 9, "duplicates": 2, "excerpts": 0,
                                             "unexpected": 2, "ambiguous": 0}
    assert "expected 12 = matched 9 + listed copies 0 + missing 3 + ambiguous 0" in result.stdout


def test_both_copies_listed_is_one_duplicate_not_also_missing(damaged, tmp_path):
    """The manifest lists the copies too: each is a duplicate (counted once), none is missing."""
    manifest = (damaged["corpus"] / "manifest.csv").read_text().splitlines()
    listed = {line.split(",", 1)[0]: line for line in manifest[1:]}
    copied = [os.path.join(os.path.dirname(c), os.path.basename(c)[len("copy-of-"):]) for c in damaged["copies"]]
    extra = [listed[original].replace(original, copy) for original, copy in zip(copied, damaged["copies"])]
    (tmp_path / "m.csv").write_text("\n".join(manifest + extra) + "\n")
    result = run_cli("reconcile", str(damaged["root"] / "index"), "--manifest", str(tmp_path / "m.csv"),
                     "--json", str(tmp_path / "r.json"))
    assert result.returncode == 1
    report = json.loads((tmp_path / "r.json").read_text())
    kinds = sorted((d["kind"], d["uri"]) for d in report["discrepancies"])
    assert [uri for kind, uri in kinds if kind == "duplicate"] == sorted(damaged["copies"])
    assert sorted(uri for kind, uri in kinds if kind == "missing") == sorted(damaged["deleted"])
    assert len(kinds) == 8  # the same eight problems as without the extra rows
    assert report["identity"]["expected"]["listed_copies"] == 2
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["manifest videos"]["expected"] == 12  # 14 rows, 2 of them the same footage again
    assert_counts_add_up(report)


def test_html_report_is_self_contained(damaged, tmp_path):
    html_path = tmp_path / "report.html"
    result = run_cli("reconcile", str(damaged["root"] / "index"), "--manifest",
                     str(damaged["corpus"] / "manifest.csv"), "--html", str(html_path))
    assert result.returncode == 1
    page = html_path.read_text()
    assert "NOT RECONCILED" in page and "<svg" in page
    assert "index rows 13 = matched 9 + duplicates 2 + excerpts 0 + unexpected 2 + ambiguous 0" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for uri in damaged["deleted"]:
        assert os.path.basename(uri) in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium not installed")
def test_html_report_renders_in_headless_chromium(damaged, tmp_path):
    html_path = tmp_path / "report.html"
    run_cli("reconcile", str(damaged["root"] / "index"), "--manifest", str(damaged["corpus"] / "manifest.csv"),
            "--html", str(html_path))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", html_path.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert "NOT RECONCILED" in dom and ">11<" in dom  # the headline: 11 videos
    shot = tmp_path / "report.png"
    subprocess.run(["chromium", *flags, "--window-size=1200,1600", f"--screenshot={shot}", html_path.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000


@pytest.mark.parametrize("content,needle", [
    ("uri,expected_duration_s\n/a.mp4,10\n/a.mp4,11\n", "row 3 column `uri`: duplicate of row 2"),
    ("uri,expected_duration_s\n/a.mp4,ten\n", "row 2 column `expected_duration_s`: not a number"),
    ("path,expected_duration_s\n/a.mp4,10\n", "needs a `uri` or `clip_id` column"),
    ("uri\n/a.mp4\n", "missing column `expected_duration_s`"),
    ("uri,expected_duration_s,recorded_at\n/a.mp4,1,someday\n", "row 2 column `recorded_at`"),
    ("uri,expected_duration_s\n", "lists no clips"),
])
def test_bad_manifest_names_row_and_column(tmp_path, content, needle):
    path = tmp_path / "m.csv"
    path.write_text(content)
    with pytest.raises(ManifestProblem, match=None) as caught:
        read_manifest(str(path), require_duration=True)
    assert needle in str(caught.value)


def test_bad_manifest_exits_2_with_one_line(damaged, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("uri,expected_duration_s\n/a.mp4,-3\n")
    result = run_cli("reconcile", str(damaged["root"] / "index"), "--manifest", str(path))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "row 2" in result.stderr


def test_parquet_manifest_works_like_csv(damaged, tmp_path):
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(str(damaged["corpus"] / "manifest.csv"))
    pq.write_table(table, str(tmp_path / "m.parquet"))
    result = run_cli("reconcile", str(damaged["root"] / "index"), "--manifest", str(tmp_path / "m.parquet"),
                     "--json", str(tmp_path / "r.json"))
    assert result.returncode == 1 and "discrepancies: 8" in result.stdout
    assert_counts_add_up(json.loads((tmp_path / "r.json").read_text()))
