"""The layout docs/architecture.md describes, checked so it cannot drift.

import-linter (`.importlinter`, run by run_tests.sh and here) holds the layers; these tests
hold what it cannot express: where apache_beam may be imported at module level, what may sit
at the top of transforms/, and how long a function in the per-clip and launcher code may be.
"""

from __future__ import annotations

import ast
import glob
import os
import shutil
import subprocess
import sys

import pytest

from tests.support.runs import REPO

BEAM_PACKAGES = ("transforms/beam/", "pipeline/")
MAX_FUNCTION_LINES = 50


def _modules(*roots: str) -> list[str]:
    found = []
    for root in roots:
        found += glob.glob(os.path.join(REPO, root, "**", "*.py"), recursive=True)
    return sorted(os.path.relpath(path, REPO) for path in found)


def _module_level_imports(path: str) -> set[str]:
    tree = ast.parse(open(os.path.join(REPO, path), encoding="utf-8").read())
    names = set()
    for node in tree.body:  # module level only: a function may import Beam lazily
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_import_layers_hold():
    lint = shutil.which("lint-imports", path=os.path.dirname(sys.executable)) or shutil.which("lint-imports")
    if lint is None:
        pytest.skip("import-linter is not installed")
    result = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": REPO})
    assert result.returncode == 0, result.stdout[-3000:]


def test_only_beam_and_pipeline_import_apache_beam_at_module_level():
    offenders = [path for path in _modules("transforms", "schemas")
                 if not path.startswith(BEAM_PACKAGES) and "apache_beam" in _module_level_imports(path)]
    assert not offenders, f"import apache_beam inside a function here, or move the code to transforms/beam: {offenders}"


def test_transforms_top_level_holds_only_faults_and_the_package():
    top = sorted(os.path.basename(path) for path in glob.glob(os.path.join(REPO, "transforms", "*.py")))
    assert top == ["__init__.py", "faults.py"]


def test_transforms_package_import_has_no_side_effects():
    init = ast.parse(open(os.path.join(REPO, "transforms", "__init__.py"), encoding="utf-8").read())
    assert all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in init.body)


def test_no_long_functions_in_clip_and_pipeline():
    long_ones = []
    for path in _modules("transforms/clip", "pipeline"):
        tree = ast.parse(open(os.path.join(REPO, path), encoding="utf-8").read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long_ones.append(f"{path}:{node.lineno} {node.name} ({lines} lines)")
    assert not long_ones, long_ones


def test_no_test_module_imports_another():
    offenders = []
    for path in _modules("tests", "bench", "tools"):
        for name in _module_level_imports(path) | _all_imports(path):
            if name.startswith("tests.") and os.path.basename(name.replace(".", "/")).startswith("test_"):
                offenders.append(f"{path}: {name}")
    assert not offenders, offenders


def _all_imports(path: str) -> set[str]:
    tree = ast.parse(open(os.path.join(REPO, path), encoding="utf-8").read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names
