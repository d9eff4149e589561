"""Locked installs and versions: what a fresh machine installs, what workers get, what is told.

Beam 2.78 broke every `--decode` run of a fresh install because nothing pinned what the tests
had passed with. These tests hold the lock to setup.py, the venv to the lock, the remote
workers' requirements to the lock, and the version report to what is installed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

from tests.support.runs import REPO, run_cli

sys.path.insert(0, os.path.join(REPO, "tools"))
import lock_check  # noqa: E402  (a script in tools/, importable for its functions)

LOCK = os.path.join(REPO, "requirements.lock")
# run_tests.sh --newest/--lowest runs the suite in a throw-away resolution, not the lock.
IN_LOCKED_VENV = os.environ.get("CLIPINDEX_RESOLUTION") is None


def test_lock_agrees_with_setup_py():
    result = subprocess.run([sys.executable, os.path.join(REPO, "tools", "lock_check.py")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_lock_check_names_a_missing_pin_and_a_version_outside_the_range():
    from pip._vendor.packaging.requirements import Requirement

    requirements = [Requirement("av>=14,<19"), Requirement("pyarrow>=14,<26"), Requirement("duckdb>=1.0")]
    pins = {"av": {"19.0.0"}, "pyarrow": {"25.0.1"}}
    problems = lock_check.disagreements(requirements, pins)
    assert problems == ["av: requirements.lock pins 19.0.0, outside setup.py's range '<19,>=14'",
                        "duckdb: in setup.py (duckdb>=1.0) but not in requirements.lock"]
    assert lock_check.worker_disagreements({"av": {"18.1.0"}}, {"av": {"18.0.0"}})


def test_the_lock_covers_the_extras_the_scripts_install():
    pins = lock_check.locked_versions(LOCK)
    for name in ("duckdb", "pytest", "pytest-timeout", "ruff", "import-linter", "pip", "setuptools"):
        assert name in pins, name


@pytest.mark.skipif(not IN_LOCKED_VENV, reason="running in a --newest/--lowest resolution, not the lock")
def test_the_venv_holds_exactly_the_locked_versions():
    """`pip freeze` of the environment running the tests equals the lock for this Python."""
    from pipeline.worker_env import locked_pins

    from pip._vendor.packaging.utils import canonicalize_name

    expected = {canonicalize_name(pin.split("[")[0].split("==")[0]): pin.split("==")[1]
                for pin in locked_pins(LOCK)}
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout.split()
    installed = {canonicalize_name(line.split("==")[0]): line.split("==")[1]
                 for line in frozen if "==" in line and not line.startswith("clipindex==")}
    expected = {name: version for name, version in expected.items()
                if name not in ("pip", "setuptools", "wheel")}  # pip freeze leaves these out
    assert installed == expected


def test_ensure_venv_stamp_follows_the_lock(tmp_path):
    """An existing venv whose stamp matches is used as it is; a changed lock means a rebuild."""
    def stamp_key(lock_text: str) -> str:
        setup = open(os.path.join(REPO, "setup.py"), "rb").read()
        return hashlib.sha256(lock_text.encode() + setup).hexdigest()[:16]

    lock_text = open(LOCK, encoding="utf-8").read()
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    (venv / f".clipindex-lock-{stamp_key(lock_text)}").touch()
    script = f"source {REPO}/tools/ensure_venv.sh && echo PATH=$PATH"
    result = subprocess.run(["bash", "-c", script], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "CLIPINDEX_VENV": str(venv)})
    assert result.returncode == 0, result.stderr
    assert "installing" not in result.stderr and "rebuilding" not in result.stderr
    assert stamp_key(lock_text + "x==1\n") != stamp_key(lock_text)


def test_version_names_every_moving_part():
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    beam = importlib.metadata.version("apache-beam")
    assert lines[0].startswith("clipindex ")
    assert f"apache-beam {beam}" in lines
    assert any(line.startswith("av ") and "(FFmpeg " in line for line in lines)
    assert any(line.startswith("opencv-python-headless ") and "(OpenCV " in line for line in lines)
    assert any(line.startswith("pyarrow ") for line in lines)
    assert any(line.startswith("Python ") for line in lines)


def test_run_json_names_the_launcher_and_worker_versions(small_corpus, tmp_path):
    result = run_cli("index", "--input", str(small_corpus / "clips/**"), "--output", str(tmp_path / "index"),
                     "--workers", "1", "--quiet", "--hash", "none")
    assert result.returncode == 0, result.stderr
    versions = json.loads((tmp_path / "index" / "run.json").read_text())["versions"]
    for key in ("apache_beam", "av", "ffmpeg", "pyarrow", "opencv", "opencv_python_headless", "python"):
        assert versions[key], key
        assert versions["workers"][key] == versions[key], key
    assert not (tmp_path / "index" / "_work").exists() or not os.listdir(tmp_path / "index" / "_work")


def _staged_requirements(tmp_path, flags: list[str]) -> tuple[str, list[str]]:
    """What Beam's stager ships to remote workers for `clipindex index --runner ... FLAGS`."""
    import argparse

    from apache_beam.portability.api import beam_runner_api_pb2
    from apache_beam.runners.portability.stager import Stager

    from pipeline.options import beam_options

    args = argparse.Namespace(runner="DataflowRunner", workers=1, isolation="process")
    options = beam_options(args, ["--project", "demo", "--region", "us-central1",
                                  "--temp_location", "gs://demo-bucket/tmp", *flags])
    staging = tmp_path / "staging"
    staging.mkdir()
    resources = Stager.create_job_resources(options, str(staging), log_submission_env_dependencies=False)
    # staged name -> the local file Beam uploads under that name
    staged = {beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(r.role_payload).staged_name:
              beam_runner_api_pb2.ArtifactFilePayload.FromString(r.type_payload).path for r in resources}
    with open(staged["requirements.txt"], encoding="utf-8") as handle:
        return handle.read(), sorted(staged)


@pytest.mark.skipif(not IN_LOCKED_VENV, reason="running in a --newest/--lowest resolution, not the lock")
def test_remote_workers_are_staged_the_locked_versions(tmp_path):
    from pipeline.worker_env import locked_pins

    text, staged = _staged_requirements(tmp_path, [])
    assert {"requirements.txt", "workflow.tar.gz"} <= set(staged)  # pins, and clipindex's sdist
    pins = {line for line in text.splitlines() if line and not line.startswith("#")}
    locked = set(locked_pins(os.path.join(REPO, "requirements-workers.lock")))
    assert pins == locked
    for name in ("apache-beam", "av", "pyarrow", "opencv-python-headless", "numpy"):
        assert f"{name}=={importlib.metadata.version(name)}" in pins, name
    assert not any(line.startswith(("pytest==", "ruff==", "pip==")) for line in pins)


def test_a_requirements_file_of_the_users_own_wins(tmp_path):
    own = tmp_path / "mine.txt"
    own.write_text("av==18.1.0\n")
    text, _ = _staged_requirements(tmp_path, ["--requirements_file", str(own), "--requirements_cache=skip"])
    assert text == "av==18.1.0\n"


def test_launcher_warns_when_the_workers_container_has_another_beam():
    from pipeline.worker_env import beam_version_warnings

    beam = importlib.metadata.version("apache-beam")
    warnings = beam_version_warnings(["--sdk_container_image", "apache/beam_python3.11_sdk:2.70.0"],
                                     [f"apache-beam=={beam}"])
    assert len(warnings) == 1 and "has Beam 2.70.0" in warnings[0] and beam in warnings[0]
    assert beam_version_warnings(["--sdk_container_image", f"apache/beam_python3.11_sdk:{beam}"],
                                 [f"apache-beam=={beam}"]) == []
    assert "pins apache-beam 2.0.0" in beam_version_warnings([], ["apache-beam==2.0.0"])[0]


def test_local_and_loopback_runners_get_no_worker_requirements():
    from pipeline.worker_env import installs_on_workers

    assert not installs_on_workers(None, [])
    assert not installs_on_workers("PrismRunner", [])
    assert not installs_on_workers("FlinkRunner", ["--environment_type", "LOOPBACK"])
    assert not installs_on_workers("PortableRunner", ["--environment_type=EXTERNAL"])
    assert installs_on_workers("FlinkRunner", ["--environment_type=PROCESS"])
    assert installs_on_workers("DataflowRunner", [])
