"""Beyond one machine, for real: a Flink cluster and Spark give the same rows as a local run.

The session starts real engines with tools/engines/*.sh, each on free loopback ports with its
own state folder (so a cluster a developer left running is not touched), and stops them at the
end:
- Flink 1.19: a JobManager and two TaskManagers (separate JVMs), Beam's Flink job server in
  front of them, and one Python SDK worker pool per TaskManager (EXTERNAL environment: the SDK
  workers are processes of clipindex's venv, not of this test, as on a cluster);
- Spark 3.5: a standalone Spark cluster (a Master and a Worker, which starts an executor JVM
  per job) behind Beam's Spark job server, with an SDK worker pool.
clipindex runs through its CLI with --runner PortableRunner against each, with --decode
keyframes (which adds the near-duplicate stage: side inputs, a global gather, files written
by workers and read back by the launcher) on a corpus with a re-encoded copy, an excerpt and
two unreadable inputs. Every table must equal the local FnApiRunner's row for row, except
the run-specific columns, and so must the run's counts and totals.

Then a TaskManager is killed (SIGKILL) in the middle of a run: Flink's restart strategy runs
the lost work again and the committed index is still the same.

Skips (with the script's reason) only where the engines cannot be had: no Java or Maven, or
Maven cannot resolve the job servers' jars. Times on 2 busy cores: about 1 min to start the
Flink cluster with warm caches (several more cold: ~160 MB of jars per engine from Maven,
230 MB of Flink from PyPI), about 1 min per Flink run, 45 s per Spark run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.support.index_compare import assert_same_rows
from tests.support.runs import REPO, run_cli
from tests.support.tables import read_table as read_index_table
from transforms.storage.snapshots import TABLES

pytestmark = [pytest.mark.java, pytest.mark.timeout(1800)]

# Differ from run to run by design: the run's id, a wall-clock time.
# run.json: what must not depend on the runner.
RUN_TOTALS = ("matched", "indexed", "errors", "reindexed", "truncated", "duplicates", "duplicate_hours",
              "excerpts", "excerpt_hours", "total_frames", "total_duration_s", "total_hours", "total_bytes",
              "error_kinds", "matching_stats")
RUN_TIMEOUT_S = 900
FETCH_TIMEOUT_S = 1500  # cold caches: Maven and PyPI downloads
# Keep each TaskManager's SDK worker between stages instead of starting one per stage.
PORTABLE_FLAGS = ("--runner", "PortableRunner", "--environment_type", "EXTERNAL",
                  "--environment_cache_millis", "60000")


def _free_port(hosts=("127.0.0.1",)) -> int:
    """A port free on every one of `hosts` (the SDK worker pools listen on 127.0.0.1x)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = probe.getsockname()[1]
        try:
            for host in hosts[1:]:
                with socket.socket() as other:
                    other.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


class Engine:
    """One tools/engines/<name>.sh on its own ports and state folder."""

    def __init__(self, name: str, run_dir: str, env: dict):
        self.name = name
        self.script = os.path.join(REPO, "tools", "engines", f"{name}.sh")
        self.run_dir = run_dir
        self.env = {**os.environ, "ENGINES_RUN": run_dir, **env}
        if sys.prefix != sys.base_prefix:  # the SDK workers run this interpreter's venv
            self.env["CLIPINDEX_VENV"] = sys.prefix

    def __call__(self, command: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([self.script, command, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start(self) -> None:
        if shutil.which("java") is None or shutil.which("mvn") is None:
            pytest.skip("Java and Maven are needed for the Beam job servers (not installed)")
        started = time.monotonic()
        fetched = self("fetch", timeout=FETCH_TIMEOUT_S)
        if fetched.returncode == 3:  # cannot be had on this machine: the one reason to skip
            reasons = [line for line in fetched.stderr.splitlines() if line.strip()]
            pytest.skip(reasons[-1] if reasons else f"{self.name}.sh fetch exited 3")
        assert fetched.returncode == 0, fetched.stderr
        result = self("start", timeout=600)
        if result.returncode != 0:
            self.stop()
            pytest.fail(f"{self.name}.sh start exited {result.returncode}:\n{result.stderr}\n{self.logs()}")
        print(f"{self.name}: fetched and started in {time.monotonic() - started:.0f} s")

    def stop(self) -> None:
        result = self("stop", timeout=300)
        assert result.returncode == 0, result.stderr

    def logs(self, lines: int = 40) -> str:
        """The tails of the engine's logs, for a failure message."""
        folder = os.path.join(self.run_dir, "log")
        out = []
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            with open(os.path.join(folder, name), errors="replace") as handle:
                tail = handle.readlines()[-lines:]
            out.append(f"--- {name}\n" + "".join(line[:300] for line in tail))
        return "\n".join(out)


@pytest.fixture(scope="session")
def engines_root(tmp_path_factory):
    # Short: Flink's and Spark's folders live under it.
    return tmp_path_factory.mktemp("engines")


@pytest.fixture(scope="session")
def flink(engines_root):
    ports = {"FLINK_RPC_PORT": _free_port(), "FLINK_REST_PORT": _free_port(), "JOB_PORT": _free_port(),
             "ARTIFACT_PORT": _free_port(), "EXPANSION_PORT": _free_port(),
             "WORKER_POOL_PORT": _free_port(("127.0.0.1", "127.0.0.11", "127.0.0.12"))}
    engine = Engine("flink", str(engines_root / "flink"), {k: str(v) for k, v in ports.items()})
    engine.start()
    engine.job_endpoint = f"localhost:{ports['JOB_PORT']}"
    engine.pool = f"sdk-pool:{ports['WORKER_POOL_PORT']}"
    engine.rest = f"http://127.0.0.1:{ports['FLINK_REST_PORT']}"
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def spark(engines_root):
    ports = {"JOB_PORT": _free_port(), "ARTIFACT_PORT": _free_port(), "EXPANSION_PORT": _free_port(),
             "WORKER_POOL_PORT": _free_port(), "SPARK_MASTER_PORT": _free_port(),
             "SPARK_MASTER_UI_PORT": _free_port(), "SPARK_WORKER_UI_PORT": _free_port()}
    engine = Engine("spark", str(engines_root / "spark"),
                    {"SPARK_CLUSTER": "1", **{k: str(v) for k, v in ports.items()}})
    engine.start()
    engine.job_endpoint = f"localhost:{ports['JOB_PORT']}"
    engine.pool = f"localhost:{ports['WORKER_POOL_PORT']}"
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """8 readable clips (one a re-encoded copy, one an excerpt) and two unreadable inputs."""
    from pipeline.synth import Reencode, Trim, synth

    root = tmp_path_factory.mktemp("engines_corpus")
    clips = root / "corpus" / "clips"
    synth(str(root / "corpus"), clips=6, hours=0.02, seed=7, reencode=[Reencode.parse("0")],
          trims=[Trim.parse("1:2:5")])
    (clips / "empty.mp4").write_bytes(b"")
    (clips / "notes.mp4").write_text("not a video\n")
    return root


def _index(corpus, name: str, *runner_args: str) -> str:
    output = str(corpus / name)
    started = time.monotonic()
    result = run_cli("index", "--input", str(corpus / "corpus" / "clips" / "**"), "--output", output,
                     "--decode", "keyframes", "--quiet", *runner_args, timeout=RUN_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"{name}: {time.monotonic() - started:.1f} s wall")
    return output


@pytest.fixture(scope="session")
def local_index(corpus) -> str:
    return _index(corpus, "local")


def _run(index_dir: str) -> dict:
    with open(os.path.join(index_dir, "run.json")) as handle:
        return json.load(handle)


def assert_same_index(expected_dir: str, actual_dir: str) -> None:
    assert_same_rows(expected_dir, actual_dir, TABLES)
    expected_run, actual_run = _run(expected_dir), _run(actual_dir)
    assert {k: actual_run[k] for k in RUN_TOTALS} == {k: expected_run[k] for k in RUN_TOTALS}


def test_reference_index_has_every_kind_of_row(local_index):
    run = _run(local_index)
    assert (run["indexed"], run["errors"], run["duplicates"], run["excerpts"]) == (8, 2, 1, 1)
    for table in TABLES:
        assert read_index_table(local_index, table).num_rows > 0, table


def test_flink_cluster_matches_local_runner(corpus, local_index, flink):
    out = _index(corpus, "flink", *PORTABLE_FLAGS, "--job_endpoint", flink.job_endpoint,
                 "--environment_config", flink.pool)
    assert_same_index(local_index, out)
    # The work ran on the cluster's TaskManagers, through both SDK worker pools.
    for pool in ("pool1", "pool2"):
        with open(os.path.join(flink.run_dir, "log", f"{pool}.log")) as handle:
            assert "Starting worker with command" in handle.read(), f"{pool} started no SDK worker"


def test_spark_cluster_matches_local_runner(corpus, local_index, spark):
    out = _index(corpus, "spark", *PORTABLE_FLAGS, "--job_endpoint", spark.job_endpoint,
                 "--environment_config", spark.pool)
    assert_same_index(local_index, out)
    # The stages ran in an executor the standalone Worker started, not in the job server.
    with open(os.path.join(spark.run_dir, "log", "worker.log")) as handle:
        assert "Asked to launch executor" in handle.read()


def _rest(flink, path: str):
    with urllib.request.urlopen(flink.rest + path, timeout=10) as response:
        return json.load(response)


def _job_at(flink, kill_at: str):
    """The running job's id once it is at `kill_at`, else None: `reading`, its stage that reads
    the clips has received some; `committed`, its WriteIndex/Commit stage has finished."""
    for job in _rest(flink, "/jobs/overview")["jobs"]:
        if job["state"] != "RUNNING":
            continue
        for vertex in _rest(flink, f"/jobs/{job['jid']}")["vertices"]:
            if kill_at == "reading" and "{Index" in vertex["name"] and vertex["status"] == "RUNNING" \
                    and vertex["metrics"].get("read-records", 0) > 0:
                return job["jid"]
            if kill_at == "committed" and "WriteIndex/Commit" in vertex["name"] and vertex["status"] == "FINISHED":
                return job["jid"]
    return None


@pytest.mark.parametrize("kill_at", ["reading", "committed"])
def test_taskmanager_killed_mid_run_restarts_and_commits_the_same_index(corpus, local_index, flink, kill_at):
    """`reading`: while the clips are read. `committed`: after the writers' files were renamed into
    place, while the near-duplicate stage still runs: Flink then runs the writers again, so both
    attempts' files are there (this once stopped the run at the every-input-once check; now the
    second copy of each row is dropped, transforms/launcher/retried_rows.py)."""
    output = str(corpus / f"flink_killed_{kill_at}")
    command = [sys.executable, "-m", "pipeline", "index", "--input", str(corpus / "corpus" / "clips" / "**"),
               "--output", output, "--decode", "keyframes", "--quiet", *PORTABLE_FLAGS,
               "--job_endpoint", flink.job_endpoint, "--environment_config", flink.pool]
    run = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Kill TaskManager 1 at the chosen point (Flink's REST state, refreshed every second here).
        deadline = time.monotonic() + 600
        job = None
        while job is None and time.monotonic() < deadline and run.poll() is None:
            with contextlib.suppress(OSError, ValueError, KeyError):
                job = _job_at(flink, kill_at)
            time.sleep(0.2)
        assert job and run.poll() is None, f"the run ended before the kill point ({kill_at}) was seen"
        killed = flink("kill-taskmanager", "1")
        assert killed.returncode == 0, killed.stderr
        output_text, _ = run.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, output_text + flink.logs()
    # The kill did hit the job: Flink recorded the lost TaskManager and restarted the work.
    history = _rest(flink, f"/jobs/{job}/exceptions")["exceptionHistory"]["entries"]
    assert history, "Flink recorded no failure: the TaskManager was killed after the job's work"
    assert_same_index(local_index, output)
    # After the commit point Flink 1.19 restarted the whole job in every run seen (3 of 3): the
    # writers ran twice and one copy of each of the 8 clips' rows was dropped. A partial restart
    # that leaves nothing doubled is as correct.
    dropped = _run(output)["retried_rows_dropped"]
    assert dropped.get("clips") in (None, 8), dropped
    # Bring TaskManager 1 back for whatever runs next (start is idempotent).
    restarted = flink("start")
    assert restarted.returncode == 0, restarted.stderr
