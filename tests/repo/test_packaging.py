"""Worker packaging: what `--setup_file ./setup.py` ships to Dataflow (or any remote worker).

Every subpackage must be in it (setup.py finds them): a worker imports transforms.clip.mp4.*

Beam builds an sdist of setup.py's folder, stages it as workflow.tar.gz, and each worker
pip-installs it. These tests build that sdist with Beam's own stager, then build a wheel
from the sdist (as pip on a worker does), and run clipindex from the unpacked wheel in a
folder outside the repository, so nothing can be imported from the source tree.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest

from tests.support.runs import REPO, run_cli

PACKAGES = ("pipeline", "transforms", "schemas")


def package_modules() -> set[str]:
    """Every module of the three packages in the source tree, as 'pipeline/cli.py'."""
    modules = set()
    for package in PACKAGES:
        for path in glob.glob(os.path.join(REPO, package, "**", "*.py"), recursive=True):
            modules.add(os.path.relpath(path, REPO).replace(os.sep, "/"))
    return modules


@pytest.fixture(scope="module")
def staged_sdist(tmp_path_factory) -> str:
    """The sdist exactly as Beam builds and stages it for --setup_file."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.portability.api import beam_runner_api_pb2
    from apache_beam.runners.portability.stager import Stager

    staging = tmp_path_factory.mktemp("staging")
    options = PipelineOptions(["--setup_file", os.path.join(REPO, "setup.py")])
    resources = Stager.create_job_resources(options, str(staging), log_submission_env_dependencies=False)
    staged = {beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(r.role_payload).staged_name
              for r in resources}
    assert "workflow.tar.gz" in staged, f"staged: {sorted(staged)}"
    (sdist,) = glob.glob(str(staging / "*.tar.gz"))
    return sdist


def test_setup_file_sdist_holds_every_module(staged_sdist):
    with tarfile.open(staged_sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"setup.py", "README.md"} <= names
    missing = package_modules() - names
    assert not missing, f"modules not in the sdist the workers install: {sorted(missing)}"


def _pip_wheel(source: str, out_dir: str, isolated: bool) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out_dir, source]
    if not isolated:
        args.insert(5, "--no-build-isolation")
    return subprocess.run(args, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def wheel_from_sdist(staged_sdist, tmp_path_factory) -> str:
    """A wheel built from the staged sdist, as pip does on a worker."""
    build = tmp_path_factory.mktemp("wheel_build")
    with tarfile.open(staged_sdist) as tar:
        tar.extractall(build, filter="data")
    (source,) = glob.glob(str(build / "clipindex-*"))
    out = str(build / "dist")
    # Offline first; setuptools < 70.1 needs the `wheel` package for that, else let pip
    # fetch the build backend (setuptools, wheel) from the package index as a worker would.
    result = _pip_wheel(source, out, isolated=False)
    if result.returncode != 0:
        result = _pip_wheel(source, out, isolated=True)
    if result.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {result.stderr.strip().splitlines()[-1:]}")
    (wheel,) = glob.glob(os.path.join(out, "clipindex-*.whl"))
    return wheel


def test_wheel_holds_every_module_and_the_console_script(wheel_from_sdist):
    with zipfile.ZipFile(wheel_from_sdist) as whl:
        names = set(whl.namelist())
        meta = {os.path.basename(n): whl.read(n).decode() for n in names if ".dist-info/" in n}
    missing = package_modules() - names
    assert not missing, f"modules not in the wheel: {sorted(missing)}"
    assert "clipindex = pipeline.cli:main" in meta["entry_points.txt"]
    requires = [line for line in meta["METADATA"].splitlines() if line.startswith("Requires-Dist:")]
    for dependency in ("apache-beam", "av", "pyarrow"):
        assert any(dependency in line for line in requires), dependency


def test_unpacked_wheel_runs_an_index_outside_the_repo(wheel_from_sdist, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel_from_sdist) as whl:
        whl.extractall(site)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    # Only the wheel's files on the path (not the repo's), then this venv's dependencies.
    env = {**os.environ, "PYTHONPATH": str(site)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=outside,
                              env=env, timeout=180)

    # Every module of every subpackage imports from the wheel alone (what a worker has).
    every_module = ("import importlib, pkgutil, pipeline, transforms, schemas\n"
                    "for package in (pipeline, transforms, schemas):\n"
                    "    print(package.__file__)\n"
                    "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
                    "        if not module.name.endswith('__main__'):\n"
                    "            print(importlib.import_module(module.name).__file__)\n")
    imported = run("-c", every_module)
    assert imported.returncode == 0, imported.stderr
    files = imported.stdout.split()
    assert all(path.startswith(str(site)) for path in files), imported.stdout
    assert len(files) == len(package_modules()) - 1  # pipeline/__main__.py is not imported
    # A real run from the installed files: the Beam worker and the isolated clip reader
    # (a child process) both import clipindex from the wheel.
    assert run("-m", "pipeline", "synth", "corpus", "--clips", "2", "--hours", "0.002").returncode == 0
    indexed = run("-m", "pipeline", "index", "--input", "corpus/clips/**", "--output", "index",
                  "--workers", "1", "--quiet")
    assert indexed.returncode == 0, indexed.stderr
    assert "indexed 2 + errors 0" in indexed.stdout


def test_dataflow_dry_run_translates_the_job_offline(tmp_path):
    """DataflowRunner --dry_run translates the job and packages --setup_file, submits nothing."""
    from pipeline.synth import synth

    synth(str(tmp_path / "corpus"), clips=2, hours=0.002)
    result = run_cli("index", "--input", str(tmp_path / "corpus/clips/**"), "--output",
                     str(tmp_path / "index"), "--runner", "DataflowRunner", "--project", "demo",
                     "--region", "us-central1", "--temp_location", "gs://demo-bucket/tmp",
                     "--dry_run=True", timeout=120)  # --setup_file and the pinned requirements are added
    assert result.returncode == 0, result.stderr
    assert "dry run: DataflowRunner translated the pipeline for 2 inputs" in result.stderr
    assert not (tmp_path / "index" / "run.json").exists()
