"""Incremental nightly runs, atomic commits under SIGKILL, and the single-writer lock."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from pipeline.synth import synth
from tests.support.runs import REPO, run_cli
from tests.support.index_compare import RUN_SPECIFIC, assert_same_index  # noqa: F401
from tests.support.index_compare import wait_for as _wait_for
from tests.support.tables import read_table as read_index_table
from tests.support.tables import run_folders





def _index(corpus, out, *extra, env=None):
    result = run_cli("index", "--input", str(corpus / "clips/**/*.mp4"), "--output", str(out), *extra, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "run.json").read_text())


def _add_clips(corpus, count, seed):
    extra = synth(str(corpus.parent / f"extra-{seed}"), clips=count, hours=count * 10 / 3600, seed=seed)
    for plan in extra:
        target = corpus / "clips" / f"new-{seed}" / os.path.basename(plan.relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(corpus.parent / f"extra-{seed}" / plan.relpath), target)


def test_second_run_reads_only_what_changed(corpus_copy, tmp_path):
    first = _index(corpus_copy, tmp_path / "O")
    assert first["reindexed"] == 12 and first["carried_forward"] == 0

    _add_clips(corpus_copy, 5, seed=41)
    second = _index(corpus_copy, tmp_path / "O")
    assert second["changes"]["new"]["count"] == 5
    assert second["reindexed"] == 5 and second["carried_forward"] == 12 and second["matched"] == 17
    assert second["previous_run_id"] == first["run_id"]
    _index(corpus_copy, tmp_path / "full")
    assert_same_index(tmp_path / "O", tmp_path / "full")

    (corpus_copy / "clips" / "broken.mp4").write_text("not yet a video")
    broken_run = _index(corpus_copy, tmp_path / "O")
    assert broken_run["reindexed"] == 1 and broken_run["errors"] == 1
    assert broken_run["changes"]["newly_failing"] == [str(corpus_copy / "clips" / "broken.mp4")]

    # The broken file is fixed, one clip is removed, one is touched: only those are read.
    victim = sorted((corpus_copy / "clips").rglob("clip-*.mp4"))[0]
    victim.unlink()
    fixed = corpus_copy / "clips" / "broken.mp4"
    shutil.copyfile(sorted((corpus_copy / "clips").rglob("clip-*.mp4"))[0], fixed)
    touched = sorted((corpus_copy / "clips").rglob("clip-*.mp4"))[1]
    os.utime(touched, (time.time(), time.time() + 10))
    third = _index(corpus_copy, tmp_path / "O", "--allow-removals")  # 1 of 18 is over the 5 % guard
    changes = third["changes"]
    assert changes["removed"]["count"] == 1 and changes["changed"]["count"] == 1
    assert changes["retried_errors"]["count"] == 1 and changes["newly_fixed"] == [str(fixed)]
    assert third["reindexed"] == 2 and third["errors"] == 0
    assert len(os.listdir(tmp_path / "O" / "runs")) == 4


def test_options_change_forces_a_full_reindex(corpus_copy, tmp_path):
    _index(corpus_copy, tmp_path / "O", "--hash", "none")
    second = _index(corpus_copy, tmp_path / "O")
    assert second["reindexed"] == 12 and second["changes"]["full_reindex_reason"]


def _start_hanging_run(corpus, out, hang_on):
    env = {**os.environ, "CLIPINDEX_TEST_HANG_ON": hang_on}
    return subprocess.Popen([sys.executable, "-m", "pipeline", "index", "--input", str(corpus / "clips/**/*.mp4"),
                             "--output", str(out), "--clip-timeout-s", "600"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)



def test_sigkill_mid_run_keeps_previous_snapshot(corpus_copy, tmp_path):
    out = tmp_path / "O"
    first = _index(corpus_copy, out)
    _add_clips(corpus_copy, 3, seed=77)
    run = _start_hanging_run(corpus_copy, out, hang_on="new-77")
    try:
        _wait_for(lambda: (out / "_work").exists() and len(os.listdir(out / "_work")) == 1
                  and (out / ".lock").exists())
        time.sleep(1.5)  # the pipeline is running: some clips done, one hangs
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the whole process tree, like an OOM kill or a cron timeout
        run.wait()
    # The previous night is complete and still the live one.
    assert json.loads((out / "run.json").read_text())["run_id"] == first["run_id"]
    assert read_index_table(out, "clips").num_rows == 12
    # The next run breaks the stale lock, finishes, and equals an uninterrupted run.
    after = _index(corpus_copy, out)
    assert after["matched"] == 15 and after["reindexed"] == 3
    assert run_folders(out, "clips") <= {first["run_id"], after["run_id"]} and not os.listdir(out / "_work")
    _index(corpus_copy, tmp_path / "full")
    assert_same_index(out, tmp_path / "full")


def test_second_concurrent_run_refuses(corpus_copy, tmp_path):
    out = tmp_path / "O"
    run = _start_hanging_run(corpus_copy, out, hang_on="clip-")
    try:
        _wait_for(lambda: (out / ".lock").exists())
        second = run_cli("index", "--input", str(corpus_copy / "clips/**/*.mp4"), "--output", str(out))
        assert second.returncode == 2
        assert len(second.stderr.strip().splitlines()) == 1 and "another clipindex run" in second.stderr
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()


@pytest.mark.parametrize("cut", ["before_pipeline", "after_pipeline"])
def test_failed_run_leaves_no_partial_snapshot(corpus_copy, tmp_path, cut):
    out = tmp_path / "O"
    _index(corpus_copy, out)
    env = {"CLIPINDEX_TEST_FAIL_AT": cut}
    result = run_cli("index", "--input", str(corpus_copy / "clips/**/*.mp4"), "--output", str(out), "--hash",
                     "none", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("clipindex: index failed: RuntimeError")
    assert len(run_folders(out, "clips")) == 1 and not (out / ".lock").exists()
    assert read_index_table(out, "clips").num_rows == 12
