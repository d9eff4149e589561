"""The code stays ruff-clean (ruff.toml): checked with the suite so it cannot drift."""

import os
import shutil
import subprocess
import sys

import pytest

from tests.support.runs import REPO


def test_ruff_clean():
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed (pip install -e .[test])")
    result = subprocess.run([ruff, "check", "--output-format", "concise", "."], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
