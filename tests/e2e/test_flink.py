"""Beyond one machine: the same index on Beam's portable runners equals the local runner's.

The index pipeline runs once on the local FnApiRunner and then, through the CLI, on:
- Flink (an embedded cluster started by Beam's Flink job server; needs Java, Maven and the
  job-server jar, fetched by tools/fetch_job_server.sh);
- Prism, Beam's portable runner in Go (built by tools/fetch_prism.sh), with SDK workers in
  the launcher (LOOPBACK) and in separate worker processes (EXTERNAL worker pool), the way
  Flink task managers or Dataflow VMs run them.
Portable runners see the pipeline only as a proto: every DoFn, coder and element is
pickled, fused and scheduled by the runner, not by the FnApiRunner's shortcuts. The rows
must be the same; only run-specific columns may differ. A runner that cannot be had on
this machine skips with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.support.index_compare import assert_same_rows
from tests.support.runs import REPO, run_cli
from tests.support.tables import read_table as read_index_table

TABLES = ("clips", "frames", "errors")
RUNNER_TIMEOUT_S = 600


def _fetch(script: str) -> str:
    """Path printed by tools/<script>, or skip with the script's reason."""
    result = subprocess.run([os.path.join(REPO, "tools", script)], capture_output=True, text=True,
                            timeout=1200, env={**os.environ, "PYTHON": sys.executable})
    if result.returncode != 0:
        reasons = [line for line in result.stderr.splitlines() if line.strip()]
        pytest.skip(reasons[-1] if reasons else f"{script} exited {result.returncode}")
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """6 real clips (0.02 h) and two unreadable inputs, so every table has rows."""
    from pipeline.synth import synth

    root = tmp_path_factory.mktemp("portable")
    synth(str(root / "corpus"), clips=6, hours=0.02, seed=7)
    (root / "corpus" / "clips" / "empty.mp4").write_bytes(b"")
    (root / "corpus" / "clips" / "notes.mp4").write_text("not a video\n")
    return root


def _index(corpus, name: str, *runner_args: str, env: dict | None = None) -> str:
    output = str(corpus / name)
    started = time.monotonic()
    result = run_cli("index", "--input", str(corpus / "corpus" / "clips" / "**"), "--output", output,
                     "--workers", "2", "--quiet", *runner_args, env=env, timeout=RUNNER_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"{name}: {time.monotonic() - started:.1f} s wall")
    return output


@pytest.fixture(scope="module")
def local_index(corpus) -> str:
    return _index(corpus, "local")


def test_reference_index_covers_every_table(local_index):
    counts = {table: read_index_table(local_index, table).num_rows for table in TABLES}
    assert counts == {"clips": 6, "frames": int(0.02 * 3600 * 30), "errors": 2}


@pytest.mark.java
def test_flink_embedded_cluster_matches_local_runner(corpus, local_index):
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    jar = _fetch("fetch_job_server.sh")
    flink = _index(corpus, "flink", "--runner", "FlinkRunner", "--flink_master", "[local]",
                   "--parallelism", "2", "--environment_type", "LOOPBACK",
                   "--flink_job_server_jar", jar)
    assert_same_rows(local_index, flink, TABLES)


def test_prism_loopback_matches_local_runner(corpus, local_index):
    prism = _fetch("fetch_prism.sh")
    out = _index(corpus, "prism", "--runner", "PrismRunner", "--prism_location", prism)
    assert_same_rows(local_index, out, TABLES)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def worker_pool():
    """Beam's SDK worker pool: a separate process that starts one SDK worker per request."""
    port = _free_port()
    # The pool starts workers as plain `python`: make that this interpreter.
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    pool = subprocess.Popen([sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main",
                             f"--service_port={port}"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert pool.poll() is None and time.monotonic() < deadline, "worker pool did not start"
            time.sleep(0.2)
        yield f"localhost:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pool.pid, signal.SIGTERM)  # the pool and the workers it started
        pool.wait(timeout=30)


def test_prism_with_separate_sdk_worker_processes_matches_local_runner(corpus, local_index):
    prism = _fetch("fetch_prism.sh")
    with worker_pool() as endpoint:
        out = _index(corpus, "prism_external", "--runner", "PrismRunner", "--prism_location", prism,
                     "--environment_type", "EXTERNAL", "--environment_config", endpoint)
    assert_same_rows(local_index, out, TABLES)


@pytest.mark.parametrize("runner, flags, expected", [
    ("FlinkRunner", ["--flink_master", "[local]"], ["--environment_type=LOOPBACK"]),
    ("FlinkRunner", [], ["--environment_type=LOOPBACK"]),
    ("FlinkRunner", ["--flink_master=host:8081"], []),
    ("FlinkRunner", ["--environment_type", "PROCESS"], []),
    ("SparkRunner", ["--spark_master_url=local[2]"], ["--environment_type=LOOPBACK"]),
    ("SparkRunner", ["--spark_master_url", "spark://host:7077"], []),
    ("PrismRunner", [], ["--prism_log_level=warn"]),
    ("PrismRunner", ["--prism_log_level=debug"], []),
    ("DataflowRunner", ["--project", "p"], []),
])
def test_portable_runner_defaults_never_override_given_flags(runner, flags, expected, monkeypatch):
    from pipeline.options import portable_runner_defaults

    monkeypatch.delenv("CLIPINDEX_DEBUG", raising=False)
    assert portable_runner_defaults(runner, flags) == expected
