"""End to end: synth -> index -> Parquet -> reconcile, through the CLI."""

import json
import os
import stat

import duckdb
import pytest

from tests.support.runs import run_cli
from tests.support.reconcile_checks import assert_counts_add_up
from tests.support.tables import read_table as read_index_table


@pytest.fixture(scope="module")
def indexed_40(tmp_path_factory):
    """The issue's acceptance corpus: 40 clips, 0.5 h, indexed once."""
    root = tmp_path_factory.mktemp("e2e40")
    assert run_cli("synth", str(root / "D"), "--clips", "40", "--hours", "0.5").returncode == 0
    result = run_cli("index", "--input", str(root / "D/clips/**"), "--output", str(root / "O"),
                     "--workers", "2")
    assert result.returncode == 0, result.stderr
    return root


def test_reconcile_exactly_40_videos_and_half_an_hour(indexed_40, tmp_path):
    result = run_cli("reconcile", str(indexed_40 / "O"), "--expect-videos", "40", "--expect-hours", "0.5",
                     "--json", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0.500" in result.stdout and "RECONCILED" in result.stdout
    assert_counts_add_up(json.loads((tmp_path / "r.json").read_text()))


def test_frames_table_has_every_frame(indexed_40):
    con = duckdb.connect()  # over the Delta tables, at the versions run.json names
    con.register("clips", read_index_table(indexed_40 / "O", "clips"))
    con.register("frames", read_index_table(indexed_40 / "O", "frames"))
    frames = con.execute("select count(*) from frames").fetchone()[0]
    assert frames == 0.5 * 3600 * 30 == 54000
    per_clip = con.execute("""
        select c.frame_count = f.n and f.first_index = 0 and f.last_index = f.n - 1
        from clips c
        join (select clip_id, count(*) n, min(frame_index) first_index, max(frame_index) last_index
              from frames group by clip_id) f using (clip_id)
    """).fetchall()
    assert len(per_clip) == 40 and all(ok for (ok,) in per_clip)


def test_run_json_agrees_with_parquet(indexed_40):
    run = json.loads((indexed_40 / "O/run.json").read_text())
    clips = read_index_table(indexed_40 / "O", "clips").to_pylist()
    assert run["matched"] == run["indexed"] + run["errors"] == 40
    assert run["indexed"] == len(clips)
    assert run["total_duration_s"] == pytest.approx(sum(c["duration_s"] for c in clips))
    assert run["total_bytes"] == sum(c["size_bytes"] for c in clips)
    assert run["total_frames"] == sum(c["frame_count"] for c in clips)
    assert run["total_hours"] == pytest.approx(0.5)
    assert {c["frame_count_source"] for c in clips} == {"index"}
    assert all(c["recorded_at"] is not None and len(c["sha256"]) == 64 for c in clips)


def test_bad_files_are_error_rows_not_failures(corpus_copy, tmp_path):
    (corpus_copy / "clips" / "zero.mp4").write_bytes(b"")
    (corpus_copy / "clips" / "readme.mp4").write_text("not a video at all\n")
    result = run_cli("index", "--input", str(corpus_copy / "clips/**/*.mp4"), "--output", str(tmp_path / "O"))
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "O/run.json").read_text())
    error_rows = read_index_table(tmp_path / "O", "errors").to_pylist()
    errors = {os.path.basename(r["uri"]): r["error_kind"] for r in error_rows}
    assert errors == {"zero.mp4": "empty_file", "readme.mp4": "not_media"}
    assert run["matched"] == run["indexed"] + run["errors"] == 14
    assert run["error_kinds"] == {"empty_file": 1, "not_media": 1}


def test_no_match_exits_2_and_writes_nothing(tmp_path):
    result = run_cli("index", "--input", str(tmp_path / "nothing/**/*.mp4"), "--output", str(tmp_path / "O"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "no input matched" in result.stderr
    assert not (tmp_path / "O").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_output_exits_2_as_user(small_corpus, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    result = run_cli("index", "--input", str(small_corpus / "clips/**"), "--output", str(locked / "O"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_unwritable_output_exits_2(small_corpus, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    result = run_cli("index", "--input", str(small_corpus / "clips/**"), "--output", str(blocker / "O"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "not writable" in result.stderr
    assert blocker.read_text() == "a file where a folder should be"


def test_unknown_option_value_is_one_line(tmp_path):
    result = run_cli("index", "--input", "x", "--output", str(tmp_path / "O"), "--tier", "fastest")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "O").exists()


def test_reconcile_mismatch_exits_1(indexed_40, tmp_path):
    result = run_cli("reconcile", str(indexed_40 / "O"), "--expect-videos", "41", "--expect-hours", "0.5",
                     "--json", str(tmp_path / "r.json"))
    assert result.returncode == 1 and "NOT RECONCILED" in result.stdout
    assert_counts_add_up(json.loads((tmp_path / "r.json").read_text()))


def test_reconcile_on_empty_dir_exits_2(tmp_path):
    result = run_cli("reconcile", str(tmp_path))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_misspelt_option_is_refused_not_ignored(tmp_path, small_corpus):
    result = run_cli("index", "--input", str(small_corpus / "clips/**"), "--output", str(tmp_path / "O"),
                     "--clip-timout-s", "5")
    assert result.returncode == 2 and "--clip-timout-s" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "O").exists()
