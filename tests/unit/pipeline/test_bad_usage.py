"""Bad usage or bad input: exit 2, one line on stderr, nothing written.

Driven in-process through `pipeline.cli.main` (the checks run before any
pipeline starts), except where file permissions need a process of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.cli import main
from tests.support.runs import REPO, without_root_bypass
from tests.support.runs import usage_error as _usage_error



@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"not read: the run never starts")
    return folder


def test_nothing_matched(capsys, tmp_path):
    line = _usage_error(capsys, "index", "--input", str(tmp_path / "none/**/*.mp4"), "--output", str(tmp_path / "O"))
    assert "no input matched" in line
    assert not (tmp_path / "O").exists()


@pytest.mark.parametrize("name, content, says", [
    ("missing.csv", None, "cannot read manifest"),
    ("no-uri.csv", "name,device\nclip-1,BWC-1\n", "needs a `uri`"),
    ("clip-id-only.csv", "clip_id,expected_duration_s\nabc,12.5\n", "no `uri` column"),
    ("empty.csv", "", "is empty"),
    ("header-only.csv", "uri\n", "lists no clips"),
    ("broken.parquet", "PAR1 but no footer", "not a readable Parquet"),
    ("binary.csv", b"\xff\xfe\x00\x01", "not UTF-8"),
])
def test_unusable_manifest(capsys, tmp_path, name, content, says):
    manifest = tmp_path / name
    if isinstance(content, str):
        manifest.write_text(content)
    elif content is not None:
        manifest.write_bytes(content)
    line = _usage_error(capsys, "index", "--manifest", str(manifest), "--output", str(tmp_path / "O"))
    assert says in line
    assert not (tmp_path / "O").exists()


def test_manifest_that_is_a_folder(capsys, tmp_path):
    line = _usage_error(capsys, "index", "--manifest", str(tmp_path), "--output", str(tmp_path.parent / "O-folder"))
    assert "cannot read manifest" in line
    assert not (tmp_path.parent / "O-folder").exists()


def test_output_inside_input(capsys, clips):
    line = _usage_error(capsys, "index", "--input", str(clips / "**"), "--output", str(clips / "index"))
    assert "inside input" in line
    assert not (clips / "index").exists()


def test_output_under_a_file(capsys, clips, tmp_path):
    line = _usage_error(capsys, "index", "--input", str(clips / "**"), "--output", str(clips / "a.mp4" / "O"))
    assert "not writable" in line or "not a directory" in line
    assert (clips / "a.mp4").read_bytes() == b"not read: the run never starts"


def test_output_folder_without_write_permission(clips, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = subprocess.run([*without_root_bypass(), sys.executable, "-m", "pipeline", "index", "--input",
                             str(clips / "**"), "--output", str(locked / "O")],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "not writable" in result.stderr
    assert not (locked / "O").exists()


@pytest.mark.parametrize("option, value", [
    ("--tier", "fastest"), ("--decode", "fps:0"), ("--decode", "everything"), ("--hash", "md5"),
    ("--isolation", "thread"), ("--workers", "0"), ("--clip-timeout-s", "-1"), ("--gap-factor", "wide"),
])
def test_unknown_option_value(capsys, clips, tmp_path, option, value):
    line = _usage_error(capsys, "index", "--input", str(clips / "**"), "--output", str(tmp_path / "O"),
                        option, value)
    assert option in line
    assert not (tmp_path / "O").exists()


@pytest.mark.parametrize("sources", [[], ["--manifest", "m.csv", "--input", "x"]])
def test_input_or_manifest_exactly_one(capsys, tmp_path, sources):
    line = _usage_error(capsys, "index", *sources, "--output", str(tmp_path / "O"))
    assert "--input" in line and "--manifest" in line
    assert not (tmp_path / "O").exists()


def test_output_inside_input_reached_through_a_symlink(capsys, clips, tmp_path):
    (tmp_path / "link").symlink_to(clips, target_is_directory=True)
    line = _usage_error(capsys, "index", "--input", str(tmp_path / "link/**"), "--output", str(clips / "index"))
    assert "inside input" in line
    assert not (clips / "index").exists()


@pytest.mark.parametrize("typed, meant", [
    ("--out", "--output"), ("--ouput", "--output"), ("--clip-timout-s", "--clip-timeout-s"),
    ("--temp-location", "--temp_location"),
])
def test_abbreviation_or_typo_names_the_flag_meant(capsys, clips, tmp_path, typed, meant):
    argv = ["index", "--input", str(clips / "**"), typed, str(tmp_path / "O")]
    if typed not in ("--out", "--ouput"):
        argv += ["--output", str(tmp_path / "O")]
    line = _usage_error(capsys, *argv)
    assert line == f"clipindex: error: unknown option {typed}; did you mean {meant}?"
    assert not (tmp_path / "O").exists()


def test_typo_in_reconcile_flag(capsys, tmp_path):
    line = _usage_error(capsys, "reconcile", str(tmp_path), "--expect-video", "3")
    assert "did you mean --expect-videos?" in line


def test_glob_expanded_by_the_shell(capsys, clips, tmp_path):
    (clips / "b.mp4").write_bytes(b"x")
    line = _usage_error(capsys, "index", "--input", str(clips / "a.mp4"), str(clips / "b.mp4"),
                        "--output", str(tmp_path / "O"), "--project", "p")
    assert "quote the pattern" in line and "b.mp4" in line
    assert not (tmp_path / "O").exists()


def test_output_that_cannot_be_created(capsys, clips):
    line = _usage_error(capsys, "index", "--input", str(clips / "**"), "--output", "/proc/clipindex-test")
    assert "not writable" in line


def test_output_folder_with_other_files(capsys, clips, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.docx").write_bytes(b"precious")
    line = _usage_error(capsys, "index", "--input", str(clips / "**"), "--output", str(tmp_path / "busy"))
    assert "not a clipindex index" in line and "thesis.docx" in line
    assert os.listdir(tmp_path / "busy") == ["thesis.docx"]


def test_synth_into_a_corpus_needs_force(capsys, tmp_path):
    assert main(["synth", str(tmp_path / "C"), "--clips", "2", "--hours", "0.002"]) == 0
    capsys.readouterr()
    line = _usage_error(capsys, "synth", str(tmp_path / "C"), "--clips", "3", "--hours", "0.003")
    assert "not empty" in line and "--force" in line
    assert main(["synth", str(tmp_path / "C"), "--clips", "3", "--hours", "0.003", "--force"]) == 0
    assert len(list((tmp_path / "C" / "clips").rglob("*.mp4"))) == 3
    assert len((tmp_path / "C" / "manifest.csv").read_text().splitlines()) == 4


def test_manifest_root_that_is_not_a_folder(capsys, tmp_path):
    (tmp_path / "m.csv").write_text("uri\na.mp4\n")
    line = _usage_error(capsys, "index", "--manifest", str(tmp_path / "m.csv"), "--manifest-root",
                        str(tmp_path / "nope"), "--output", str(tmp_path / "O"))
    assert "--manifest-root" in line


def test_a_mistyped_command_is_named_not_its_flags(capsys):
    assert _usage_error(capsys, "indx", "--input", "x", "--output", "y") == \
        "clipindex: error: unknown command 'indx'; did you mean index?"


def test_index_manifest_without_uri_does_not_suggest_a_flag_index_lacks(tmp_path, capsys):
    manifest = tmp_path / "export.csv"
    manifest.write_text("Evidence ID,File Name\nE-1,a.mp4\n")
    line = _usage_error(capsys, "index", "--manifest", str(manifest), "--output", str(tmp_path / "out"))
    assert "--columns" not in line and "uri" in line, line


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:  # a port nothing listens on once this socket is closed
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("endpoint, says", [
    (lambda: f"localhost:{_closed_port()}", "does not answer (Connection refused)"),
    (lambda: "localhost", "no port"),
])
def test_job_server_down(capsys, tmp_path, clips, endpoint, says):
    # Beam's own wait for a missing job server took 5 minutes, then a bare FutureTimeoutError.
    line = _usage_error(capsys, "index", "--input", str(clips / "*.mp4"), "--output", str(tmp_path / "O"),
                        "--runner", "PortableRunner", "--job_endpoint", endpoint())
    assert says in line and "tools/engines/flink.sh start" in line
    assert not (tmp_path / "O").exists()
