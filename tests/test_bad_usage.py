"""Bad usage or bad input: exit 2, one line on stderr, nothing written.

Driven in-process through `pipeline.cli.main` (the checks run before any
pipeline starts), except where file permissions need a process of their own.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.cli import main
from tests.conftest import REPO, without_root_bypass


def _usage_error(capsys, *argv: str) -> str:
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse reports bad option values by exiting
        code = exit_.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    return lines[0]


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
