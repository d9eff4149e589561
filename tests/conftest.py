"""Shared fixtures: generated corpora (never committed media).

Helpers tests import live in tests/support/ (never in a test module or here).
"""

from __future__ import annotations

import shutil

import pytest

from tests.support.runs import REPO  # noqa: F401 - sets PYTHONPATH for worker and reader processes


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
