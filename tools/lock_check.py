"""Check that requirements.lock and setup.py agree (CI runs this before the tests).

Fails, naming the package, when a direct dependency of setup.py (install_requires and the
`query` and `test` extras the scripts install) has no pin in the lock, or when a pinned
version lies outside setup.py's range. Standard library plus pip's vendored `packaging`,
so it runs before any venv exists.
"""

from __future__ import annotations

import ast
import os
import re
import sys

from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCKED_EXTRAS = ("query", "test")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def setup_requirements(path: str) -> list[Requirement]:
    """install_requires plus the locked extras, read from setup.py's literal lists."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    keywords = {kw.arg: kw.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                for kw in node.keywords if kw.arg in ("install_requires", "extras_require")}
    specs = list(ast.literal_eval(keywords["install_requires"]))
    extras = ast.literal_eval(keywords["extras_require"])
    for extra in LOCKED_EXTRAS:
        specs += extras[extra]
    return [Requirement(spec) for spec in specs]


def locked_versions(path: str) -> dict[str, set[str]]:
    """Package -> every version the lock pins it at (one per Python-version marker)."""
    pins: dict[str, set[str]] = {}
    for line in open(path, encoding="utf-8"):
        match = PIN.match(line)
        if match:
            pins.setdefault(canonicalize_name(match.group(1)), set()).add(match.group(3))
    return pins


def disagreements(requirements: list[Requirement], pins: dict[str, set[str]]) -> list[str]:
    problems = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        versions = pins.get(name)
        if not versions:
            problems.append(f"{requirement.name}: in setup.py ({requirement}) but not in requirements.lock")
            continue
        for version in sorted(versions):
            if not requirement.specifier.contains(version, prereleases=True):
                problems.append(f"{requirement.name}: requirements.lock pins {version}, "
                                f"outside setup.py's range '{requirement.specifier}'")
    return problems


def worker_disagreements(pins: dict[str, set[str]], worker_pins: dict[str, set[str]]) -> list[str]:
    """requirements-workers.lock must pin nothing the main lock does not, at the same versions."""
    return [f"{name}: requirements-workers.lock pins {sorted(versions - pins.get(name, set()))}, "
            f"requirements.lock {sorted(pins.get(name, set()))}"
            for name, versions in sorted(worker_pins.items()) if not versions <= pins.get(name, set())]


def main() -> int:
    pins = locked_versions(os.path.join(REPO, "requirements.lock"))
    problems = disagreements(setup_requirements(os.path.join(REPO, "setup.py")), pins)
    problems += worker_disagreements(pins, locked_versions(os.path.join(REPO, "requirements-workers.lock")))
    for problem in problems:
        print(f"lock check: {problem}", file=sys.stderr)
    if problems:
        print("lock check: run tools/lock.sh to refresh the lock", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
