"""Remote workers get the versions the launcher runs with.

A Dataflow (or Flink/Spark with DOCKER or PROCESS environments) worker installs its Python
packages when it starts. Left to setup.py's ranges it would take whatever PyPI has that
night: the break a new Beam release caused for fresh installs would reach a scheduled
production run the same way. So for such runners clipindex adds, unless the user gave them:

- `--requirements_file`: exact pins for this Python from requirements-workers.lock (the
  runtime part of requirements.lock, without the test tools; build tools dropped, the SDK
  container brings its own pip), or, when clipindex was
  installed without the lock (a wheel in someone's environment), pins of clipindex's direct
  dependencies at the versions installed here;
- `--requirements_cache=skip`: the launcher does not download sdists of every pin to stage
  them (Beam's default); workers install the pins from the package index;
- `--setup_file`: this checkout's setup.py, so workers install clipindex's own code.

Beam itself comes from the SDK container, whose tag is the launcher's Beam version unless
`--sdk_container_image` names another: `beam_version_warnings` says so when they differ.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
import tempfile
from typing import Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK = os.path.join(REPO, "requirements-workers.lock")  # the runtime part of requirements.lock
SETUP = os.path.join(REPO, "setup.py")
# Tools the SDK container has its own copies of; pinning them would reinstall pip under itself.
BUILD_TOOLS = frozenset({"pip", "setuptools", "wheel"})
DIRECT = ("apache-beam", "av", "opencv-python-headless", "pyarrow", "numpy", "google-cloud-storage")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
_IMAGE_TAG = re.compile(r":(\d+\.\d+\.\d+)(?:[^/]*)$")


def _flag(flags: list[str], name: str) -> Optional[str]:
    for index, flag in enumerate(flags):
        if flag == name and index + 1 < len(flags):
            return flags[index + 1]
        if flag.startswith(name + "="):
            return flag.split("=", 1)[1]
    return None


def installs_on_workers(runner: Optional[str], flags: list[str]) -> bool:
    """Do this runner's workers install packages at start-up (Beam's boot in a container or
    PROCESS environment)? Not the local runners, LOOPBACK or EXTERNAL worker pools: those run
    in an environment someone already set up."""
    if not runner:
        return False
    name = runner.rsplit(".", 1)[-1].lower()
    if name in ("dataflowrunner", "testdataflowrunner"):
        return True
    environment = (_flag(flags, "--environment_type") or "").upper()
    return name != "directrunner" and environment in ("DOCKER", "PROCESS")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_pins(lock_path: str = LOCK) -> list[str]:
    """The lock's pins that apply to this interpreter, as `name==version` lines."""
    from pip._vendor.packaging.markers import Marker

    pins = []
    for line in open(lock_path, encoding="utf-8"):
        match = _PIN.match(line.strip())
        if not match:
            continue
        name, extras, version, marker = match.groups()
        if _normalize(name) in BUILD_TOOLS or (marker and not Marker(marker).evaluate()):
            continue
        pins.append(f"{name}{extras or ''}=={version}")
    return pins


def installed_pins() -> list[str]:
    """Without a lock: clipindex's direct dependencies at the versions installed here."""
    pins = []
    for name in DIRECT:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def worker_requirements() -> tuple[list[str], str]:
    """(pins, where they came from)."""
    if os.path.isfile(LOCK):
        return locked_pins(LOCK), "requirements-workers.lock"
    return installed_pins(), "the versions installed in the launcher"


def beam_version_warnings(flags: list[str], pins: list[str]) -> list[str]:
    """Where the workers' Beam will differ from the launcher's."""
    launcher = importlib.metadata.version("apache-beam")
    warnings = []
    image = _flag(flags, "--sdk_container_image")
    tag = _IMAGE_TAG.search(image) if image else None
    if tag and tag.group(1) != launcher:
        warnings.append(f"the workers' SDK container {image} has Beam {tag.group(1)}, this launcher "
                        f"has {launcher}: the pipeline may not run; use an image built for {launcher}")
    locked = next((pin.split("==")[1] for pin in pins if _normalize(pin.split("==")[0]) == "apache-beam"), None)
    if locked and locked != launcher:
        warnings.append(f"requirements-workers.lock pins apache-beam {locked} but this launcher runs {launcher}: "
                        "reinstall with ./run_tests.sh or tools/ensure_venv.sh, or refresh the lock")
    return warnings


def worker_flags(runner: Optional[str], flags: list[str]) -> tuple[list[str], list[str]]:
    """(flags to add, warnings) for a runner whose workers install packages; nothing otherwise.

    The requirements file is written to a temporary file that lives as long as the process
    (Beam's stager reads it when the pipeline is submitted).
    """
    if not installs_on_workers(runner, flags):
        return [], []
    pins, source = worker_requirements()
    added = []
    if _flag(flags, "--requirements_file") is None:
        handle = tempfile.NamedTemporaryFile("w", prefix="clipindex-worker-requirements-", suffix=".txt",
                                             delete=False)
        with handle:
            handle.write(f"# clipindex's workers: exact versions from {source}\n")
            handle.write("".join(pin + "\n" for pin in pins))
        _remove_at_exit(handle.name)
        added += ["--requirements_file", handle.name]
        if _flag(flags, "--requirements_cache") is None:
            added.append("--requirements_cache=skip")
    if _flag(flags, "--setup_file") is None and os.path.isfile(SETUP):
        added += ["--setup_file", SETUP]
    return added, beam_version_warnings(flags, pins)


def _remove_at_exit(path: str) -> None:
    import atexit

    atexit.register(lambda: os.path.exists(path) and os.remove(path))


if __name__ == "__main__":  # print what the workers would get: python -m pipeline.worker_env
    print("\n".join(worker_requirements()[0]), file=sys.stdout)
