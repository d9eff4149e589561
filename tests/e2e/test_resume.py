"""Interrupted runs: one line and exit 130/143, and the next run resumes from the checkpoint.

The corpus is split so that the first third (folder `a/`) reads normally and every
clip of `b/` hangs (the test hook), so the run stalls with exactly the `a/` clips
finished; the writer closes a checkpoint file after every clip
(CLIPINDEX_CHECKPOINT_EVERY_S=0). Then the run is stopped: SIGINT to its process
group (Ctrl-C), SIGTERM to the launcher alone (a scheduler), or SIGKILL to the
group (the OOM killer). The next run must read only the `b/` clips and equal an
uninterrupted run row for row.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.support.runs import REPO, run_cli
from tests.support.index_compare import assert_same_index
from tests.support.index_compare import wait_for as _wait_for
from tests.support.interrupts import group_gone as _group_gone
from tests.support.interrupts import kept_clips as _kept_clips

FIRST = 4  # clips in a/: a third of the 12


@pytest.fixture(scope="module")
def split_corpus(small_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("split") / "clips"
    for number, path in enumerate(sorted((small_corpus / "clips").rglob("*.mp4"))):
        target = root / ("a" if number < FIRST else "b") / f"{number:02d}-{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return root


@pytest.fixture(scope="module")
def uninterrupted(split_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "O"
    result = run_cli("index", "--input", str(split_corpus / "**/*.mp4"), "--output", str(out), "--workers", "2")
    assert result.returncode == 0, result.stderr
    return out



def _stalled_run(corpus, out):
    env = {**os.environ, "CLIPINDEX_TEST_HANG_ON": f"{os.sep}b{os.sep}", "CLIPINDEX_CHECKPOINT_EVERY_S": "0"}
    run = subprocess.Popen([sys.executable, "-m", "pipeline", "index", "--input", str(corpus / "**/*.mp4"),
                            "--output", str(out), "--workers", "2", "--clip-timeout-s", "600"],
                           cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    _wait_for(lambda: _kept_clips(out) >= FIRST, timeout_s=120)
    return run



@pytest.mark.parametrize("how, code", [("SIGINT to the group", 130), ("SIGTERM to the launcher", 143),
                                       ("SIGKILL to the group", -9)])
def test_interrupted_run_resumes_and_equals_an_uninterrupted_one(split_corpus, uninterrupted, tmp_path, how, code):
    out = tmp_path / "O"
    run = _stalled_run(split_corpus, out)
    try:
        if how.startswith("SIGINT"):
            os.killpg(run.pid, signal.SIGINT)
        elif how.startswith("SIGTERM"):
            os.kill(run.pid, signal.SIGTERM)
        else:
            os.killpg(run.pid, signal.SIGKILL)
        _, stderr = run.communicate(timeout=60)
    finally:
        if not _group_gone(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == code, stderr
    if code > 0:
        # One line says what happened; the readers and the lock are gone with the launcher.
        lines = [line for line in stderr.splitlines() if not line.startswith("progress:")]
        assert "Traceback" not in stderr and len(lines) <= 3, stderr
        verb = "interrupted" if code == 130 else "terminated"
        assert lines[-1] == f"clipindex: {verb} after {FIRST} of 12 clips; nothing committed; the next run resumes them"
        _wait_for(lambda: _group_gone(run.pid), timeout_s=10)
        assert not (out / ".lock").exists() and not os.listdir(out / "_work")
    assert not (out / "run.json").exists()  # nothing committed
    if how.startswith("SIGTERM"):
        return  # resuming is the same as after SIGINT (kept short: the suite runs on 2 cores)

    resumed = run_cli("index", "--input", str(split_corpus / "**/*.mp4"), "--output", str(out), "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((out / "run.json").read_text())
    assert summary["matched"] == 12 and summary["from_checkpoint"] == FIRST
    assert summary["reindexed"] == 12 - FIRST < summary["matched"] and summary["carried_forward"] == 0
    assert f"resumed {FIRST} from a checkpoint" in resumed.stdout
    assert not (out / "checkpoint").exists()  # deleted once its rows are committed
    assert_same_index(out, uninterrupted)
