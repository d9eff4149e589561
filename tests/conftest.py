"""Shared fixtures: generated corpora (never committed media) and CLI runners."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Beam worker processes and the isolation child import the packages from here.
os.environ["PYTHONPATH"] = REPO + os.pathsep + os.environ.get("PYTHONPATH", "")


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m pipeline ARGS` the way a user runs `clipindex ARGS`."""
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """12 clips, 0.05 h at 30 fps (5,400 frames), with a manifest."""
    from pipeline.synth import synth

    root = tmp_path_factory.mktemp("small_corpus")
    synth(str(root), clips=12, hours=0.05, fps=30, seed=3)
    return root


@pytest.fixture
def corpus_copy(small_corpus, tmp_path):
    """A private, writable copy of the small corpus (tests may damage it)."""
    target = tmp_path / "corpus"
    shutil.copytree(small_corpus, target)
    manifest = (target / "manifest.csv").read_text().replace(str(small_corpus), str(target))
    (target / "manifest.csv").write_text(manifest)
    return target


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
