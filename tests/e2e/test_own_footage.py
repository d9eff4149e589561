"""A camera export as it comes: upper-case .MP4, sidecars, hidden files, excludes, manifests.

Pure matching functions first, then end-to-end CLI runs on a camera-shaped folder
(tests/support/footage.py) and the tables a clean night leaves readable.
"""

from __future__ import annotations

import json
import os

import duckdb
import pytest

from schemas import ERRORS_SCHEMA, SAMPLES_SCHEMA
from tests.support.runs import run_cli
from tests.support.footage import CLIP_NAMES, camera_export
from transforms.storage.globbing import path_regex
from transforms.launcher.find_inputs import select_inputs, select_uris
from transforms.launcher.selection import exclude_matcher, extension, skipped_sidecar
from tests.support.tables import delta_table
from tests.support.tables import read_table as read_index_table


def _tree(root, names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def _names(selection, root):
    return sorted(os.path.relpath(info.uri, root) for info in selection.files)


def test_patterns_ignore_case_unless_asked(tmp_path):
    _tree(tmp_path, ["a/X.MP4", "a/y.mp4", "b/Z.Mp4", "b/notes.txt"])
    assert _names(select_inputs([str(tmp_path / "**/*.mp4")]), tmp_path) == ["a/X.MP4", "a/y.mp4", "b/Z.Mp4"]
    strict = select_inputs([str(tmp_path / "**/*.mp4")], case_sensitive=True)
    assert _names(strict, tmp_path) == ["a/y.mp4"]
    # The folder before the first wildcard is a path, taken as written.
    assert select_inputs([str(tmp_path / "A/*.mp4")]).files == []


def test_catch_all_skips_sidecars_and_counts_them(tmp_path):
    _tree(tmp_path, ["c/GX01.MP4", "c/GX01.json", "c/GX01.vtt", "c/Thumbs.db", "c/GL01.LRV", "c/._GX01.MP4",
                     "c/README"])
    selection = select_inputs([str(tmp_path / "c/**")])
    assert _names(selection, tmp_path) == ["c/GX01.MP4", "c/README"]  # no extension: not a known sidecar
    assert selection.skipped == {"json": 1, "vtt": 1, "db": 1, "lrv": 1} and selection.hidden == 1
    assert selection.describe() == "skipped 4 sidecar files (db 1, json 1, lrv 1, vtt 1), 1 hidden"
    # Spelled out, a sidecar is an input again; so is a literal path.
    named = select_inputs([str(tmp_path / "c/**"), str(tmp_path / "c/*.json"), str(tmp_path / "c/Thumbs.db")])
    assert "c/GX01.json" in _names(named, tmp_path) and "c/Thumbs.db" in _names(named, tmp_path)
    assert named.skipped == {"vtt": 1, "lrv": 1}
    # A hidden file is an input when the pattern names the dot.
    assert _names(select_inputs([str(tmp_path / "c/._*")]), tmp_path) == ["c/._GX01.MP4"]


def test_exclude_by_name_or_by_path(tmp_path, monkeypatch):
    _tree(tmp_path, ["cams/a/1.mp4", "cams/a/2.mp4", "cams/proxies/1.mp4", "cams/b/tmp-3.MP4"])
    monkeypatch.chdir(tmp_path)
    selection = select_inputs(["cams/**/*.mp4"], excludes=["**/proxies/**", "TMP-*"])
    assert _names(selection, tmp_path) == ["cams/a/1.mp4", "cams/a/2.mp4"] and selection.excluded == 2
    relative = select_inputs(["cams/**/*.mp4"], excludes=["cams/a/2.*"])
    assert _names(relative, tmp_path) == ["cams/a/1.mp4", "cams/b/tmp-3.MP4", "cams/proxies/1.mp4"]
    listed = select_uris([str(tmp_path / "cams/a/1.mp4"), str(tmp_path / "cams/a/2.mp4")], excludes=["2.mp4"])
    assert [os.path.basename(i.uri) for i in listed.files] == ["1.mp4"] and listed.excluded == 1


def test_pure_helpers():
    assert extension("gs://b/x/GX01.JSON") == "json" and extension("/a/.profile") == "" and extension("/a/b") == ""
    assert skipped_sidecar("/x/**", "/x/a.srt") == "srt"
    assert skipped_sidecar("/x/**/*.SRT", "/x/a.srt") == "" and skipped_sidecar("/x/a.srt", "/x/a.srt") == ""
    assert skipped_sidecar("/x/**", "/x/a.mp4") == ""
    regex = path_regex("gs://b/**/GX0[1-3]*.mp4")
    assert regex.match("gs://b/GX012.MP4") and regex.match("gs://b/d/e/gx03.mp4") and not regex.match("gs://b/GX04.mp4")
    assert path_regex("a/*.mp4", case_sensitive=True).match("a/x.MP4") is None
    excluded = exclude_matcher(["*.tmp", "/data/**/proxy/**"])
    assert excluded("/data/x/a.TMP") and excluded("/data/2026/proxy/a.mp4") and not excluded("/data/a.mp4")


@pytest.fixture(scope="module")
def footage_root(small_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("footage")
    camera_export(small_corpus, root)
    return root


def test_mixed_case_archive_is_indexed_whole(footage_root, tmp_path):
    result = run_cli("index", "--input", str(footage_root / "footage/**/*.mp4"), "--output", str(tmp_path / "O"))
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "O/run.json").read_text())
    assert run["matched"] == run["indexed"] == len(CLIP_NAMES) and run["errors"] == 0
    assert run["hidden"] == 1 and run["skipped"] == {}  # ._GX010001.MP4; *.mp4 names no sidecar


def test_catch_all_over_sidecars_reconciles(footage_root, tmp_path):
    out = tmp_path / "O"
    result = run_cli("index", "--input", str(footage_root / "footage/**"), "--output", str(out))
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["matched"] == run["indexed"] == len(CLIP_NAMES) and run["errors"] == 0
    assert run["skipped"] == {"db": 1, "json": 1, "srt": 1, "thm": 1, "vtt": 1} and run["hidden"] == 1
    assert "skipped 5 sidecar files (db 1, json 1, srt 1, thm 1, vtt 1), 1 hidden" in result.stdout
    rec = run_cli("reconcile", str(out), "--expect-videos", str(len(CLIP_NAMES)))
    assert rec.returncode == 0, rec.stdout + rec.stderr
    # A clean night: every table is a table (zero rows, the full schema), for DuckDB and pyarrow.
    errors_ds = delta_table(out, "errors").to_pyarrow_dataset()  # noqa: F841 (DuckDB finds it by name)
    assert duckdb.sql("select count(*) from errors_ds").fetchall() == [(0,)]
    errors = read_index_table(out, "errors")
    assert errors.num_rows == 0 and errors.schema.names == ERRORS_SCHEMA.names
    assert read_index_table(out, "samples").schema.names == SAMPLES_SCHEMA.names


def test_manifest_root_resolves_relative_uris(footage_root, tmp_path):
    manifest = str(footage_root / "export.csv")
    out = str(tmp_path / "O")
    wrong = run_cli("index", "--manifest", manifest, "--output", out + "-wrong")
    assert wrong.returncode == 0 and "errors 5" in wrong.stdout  # relative to the manifest's folder: not found
    result = run_cli("index", "--manifest", manifest, "--manifest-root", str(footage_root / "footage"),
                     "--output", out, "--exclude", "gx010003.mp4")
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "O/run.json").read_text())
    assert run["indexed"] == len(CLIP_NAMES) - 1 and run["errors"] == 0 and run["excluded"] == 1
    rec = run_cli("reconcile", out, "--manifest", manifest, "--manifest-root", str(footage_root / "footage"))
    assert rec.returncode == 1 and "discrepancies: 1" in rec.stdout and "missing" in rec.stdout
