"""Running clipindex as a user does, from tests: the repository, the CLI, root without its bypass."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Beam worker processes and the isolation child import the packages from here.
os.environ["PYTHONPATH"] = REPO + os.pathsep + os.environ.get("PYTHONPATH", "")


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m pipeline ARGS` the way a user runs `clipindex ARGS`."""
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})


def without_root_bypass() -> list[str]:
    """Command prefix that makes root obey file permissions ([] when not root).

    The venv's interpreter lives under /root, so the CLI cannot run as
    `nobody` here; instead it keeps uid 0 but loses the two capabilities that
    let root read and write any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH).
    """
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: root ignores file permissions")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]


def ffprobe_available() -> bool:
    return shutil.which("ffprobe") is not None


needs_ffprobe = pytest.mark.skipif(not ffprobe_available(), reason="ffprobe (Debian ffmpeg) not installed")


def usage_error(capsys, *argv: str) -> str:
    from pipeline.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse reports bad option values by exiting
        code = exit_.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    return lines[0]
