"""The README's commands run as written, so the user's guide cannot drift from the code.

The ```bash blocks between `<!-- tested: NAME -->` and `<!-- /tested -->` are run, in
order and unchanged, by bash (`set -euo pipefail`: any failing command fails the test) in a
fresh folder that holds what the section says the reader has: `.venv` (a link to the venv
running the tests) for the quick tour; the camera-shaped `footage/` folder and `export.csv`
of tests/support/footage.py for "Index your own footage".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support.runs import REPO
from tests.support.footage import camera_export
from transforms.launcher.selection import SIDECAR_GROUPS

README = Path(REPO) / "README.md"


def readme_script(name: str) -> str:
    match = re.search(rf"<!-- tested: {name} -->(.*?)<!-- /tested -->", README.read_text(), re.S)
    assert match, f"README has no <!-- tested: {name} --> section"
    blocks = re.findall(r"```bash\n(.*?)```", match.group(1), re.S)
    assert blocks, f"README section {name} has no bash block"
    return "\n".join(blocks)


def run_script(script: str, cwd: Path) -> subprocess.CompletedProcess:
    # Name the failing command: a README line that stopped working is the whole message.
    prelude = "set -euo pipefail\ntrap 'echo \"README command failed: $BASH_COMMAND\" >&2' ERR\n"
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    return subprocess.run(["bash", "-c", prelude + script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def test_quick_tour_runs_as_written(tmp_path):
    (tmp_path / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    result = run_script(readme_script("quick-tour"), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "matched 60 = indexed 60 + errors 0; 1.000 h, 108000 frames" in result.stdout
    assert "RECONCILED" in result.stdout and "NOT RECONCILED" not in result.stdout
    assert re.search(r"h264\s*│\s*60\s*│\s*1\.0\b", result.stdout), result.stdout
    assert re.search(r"│\s*0\s*│", result.stdout)  # the errors table: readable, zero rows
    assert (tmp_path / "demo/tour-report.html").stat().st_size > 0


def test_quick_tour_uses_the_numbers_of_run_local():
    local = (Path(REPO) / "run_local.sh").read_text()
    clips = re.search(r"CLIPS=\$\{CLIPS:-(\d+)\}", local).group(1)
    hours = re.search(r"HOURS=\$\{HOURS:-([\d.]+)\}", local).group(1)
    seed = re.search(r"synth .*--seed (\d+)", local).group(1)
    tour = readme_script("quick-tour")
    assert f"--clips {clips} --hours {hours} --seed {seed}" in tour
    assert f"--expect-videos {clips} --expect-hours {hours}" in tour


def test_own_footage_runs_as_written(small_corpus, tmp_path):
    camera_export(small_corpus, tmp_path)
    script = readme_script("own-footage")
    result = run_script(script, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "skipped 5 sidecar files (db 1, json 1, srt 1, thm 1, vtt 1), 1 hidden" in result.stdout
    assert "{'db': 1, 'json': 1, 'srt': 1, 'thm': 1, 'vtt': 1} 1" in result.stdout
    assert result.stdout.count("RECONCILED\n") == script.count("clipindex reconcile ")  # each one reconciles
    assert "NOT RECONCILED" not in result.stdout
    assert "Traceback" not in result.stderr


def test_sidecar_list_in_readme_is_the_codes():
    text = README.read_text()
    listed = re.search(r"<!-- sidecar-extensions -->(.*?)<!-- /sidecar-extensions -->", text, re.S).group(1)
    groups = {}
    for item in re.split(r"\n- ", "\n" + listed.strip()):
        if item.strip():
            name, _, extensions = item.partition(":")
            groups[name.strip()] = tuple(e.strip() for e in " ".join(extensions.split()).split(","))
    assert groups == SIDECAR_GROUPS


def test_relative_links_resolve():
    for doc in [README, *sorted((Path(REPO) / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text()):
            if "://" not in target:
                assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
