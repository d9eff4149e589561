"""Ctrl-C keeps every clip the progress line counted, with the default checkpoint settings.

Issue 20: the writer closes its Parquet files only every 120 s, and Ctrl-C at 105/300
clips of a `--decode fps:2` run said `interrupted after 0 of 300 clips`; the next run read
all 300 again. Now the launcher has the workers close their open files into the checkpoint
before it kills them (transforms.storage.keep_on_stop). Here a run over 60 short clips gets SIGINT
on its process group (as Ctrl-C does) once its progress files, which the progress line
sums, count a third of them; CLIPINDEX_CHECKPOINT_EVERY_S is not set. Once with the default
layout (the launcher hosts Beam's one SDK worker), once with SDK worker processes (the layout
of --workers above 4), which Ctrl-C must not reach before they have kept their rows.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq
import pytest

from pipeline.progress import read_progress
from tests.support.runs import REPO, run_cli
from transforms.faults import ROLL_ENV
from tests.support.tables import read_table as read_index_table

CLIPS = 60
SECONDS_PER_CLIP = 20


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from pipeline.synth import synth

    root = tmp_path_factory.mktemp("sixty")
    synth(str(root), clips=CLIPS, hours=CLIPS * SECONDS_PER_CLIP / 3600, fps=30, seed=11)
    return root / "clips"


LAYOUTS = {"launcher worker": [], "SDK worker processes": ["--isolation", "none", "--workers", "2"]}


def _index_command(corpus, out, flags) -> list[str]:
    return ["index", "--input", str(corpus / "**/*.mp4"), "--output", str(out), "--decode", "fps:2", *flags]


def _progress_done(tmp_dir: str) -> int:
    """Clips the run's progress line counts (the launcher's progress folder lives in TMPDIR)."""
    return sum(read_progress(folder)[0] for folder in glob.glob(os.path.join(tmp_dir, "clipindex-progress-*")))


def _interrupt_at_a_third(corpus, out, flags) -> tuple[subprocess.CompletedProcess, int]:
    """Run the index, SIGINT its process group at a third; returns (the run, progress at the signal)."""
    # A short private TMPDIR: the progress folder is found there, and its socket path stays short.
    with tempfile.TemporaryDirectory(prefix="ci-", dir="/tmp") as tmp_dir:
        env = {key: value for key, value in os.environ.items() if key != ROLL_ENV}
        run = subprocess.Popen([sys.executable, "-m", "pipeline", *_index_command(corpus, out, flags)], cwd=REPO,
                               env={**env, "TMPDIR": tmp_dir}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while (done := _progress_done(tmp_dir)) < CLIPS // 3 and run.poll() is None:
                assert time.monotonic() < deadline, "the run made no progress"
                time.sleep(0.05)
            os.killpg(run.pid, signal.SIGINT)
            stdout, stderr = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
    return subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr), done


def _checkpoint_clips(out) -> int:
    return sum(pq.ParquetFile(path).metadata.num_rows for path in glob.glob(str(out / "checkpoint/*/clips/*.parquet")))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_ctrl_c_keeps_what_the_progress_line_counted(corpus, tmp_path, layout):
    out = tmp_path / "O"
    interrupted, progress_at_signal = _interrupt_at_a_third(corpus, out, LAYOUTS[layout])
    assert interrupted.returncode == 130, interrupted.stderr
    assert "Traceback" not in interrupted.stderr, interrupted.stderr
    kept = _checkpoint_clips(out)
    # Rows of a clip reach the writers before the progress files count it, and an interrupt has
    # the writers keep every row they hold: no counted clip is lost (none was an error here).
    assert CLIPS // 3 <= progress_at_signal <= kept < CLIPS, interrupted.stderr
    last_line = interrupted.stderr.splitlines()[-1]
    assert last_line == f"clipindex: interrupted after {kept} of {CLIPS} clips; nothing committed; " \
                        "the next run resumes them"

    resumed = run_cli(*_index_command(corpus, out, LAYOUTS[layout]))
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((out / "run.json").read_text())
    # Every kept clip is complete (clip, frame and sample rows) and none of them is read again.
    assert summary["from_checkpoint"] == kept and summary["reindexed"] == CLIPS - kept
    assert re.search(rf"read {CLIPS - kept}, resumed {kept} from a checkpoint", resumed.stdout), resumed.stdout
    run_ids = read_index_table(out, "clips", columns=["run_id"]).column("run_id").to_pylist()
    assert len(run_ids) == CLIPS and run_ids.count(summary["run_id"]) == CLIPS - kept
