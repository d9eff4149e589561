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


@pytest.fixture(scope="session")
def fake_gcs():
    """fake-gcs-server behind the counting proxy (bench/gcs_servers.py), on 127.0.0.1, for the
    session: what delta-rs itself tests its GCS store against. Yields the proxy (`client_env()`
    points clipindex at it); tests make their own buckets. Skipped when it is not built."""
    from bench import gcs_servers

    binaries = gcs_servers.built_binaries()
    if binaries is None:
        pytest.skip("fake-gcs-server not built (tools/fetch_fake_gcs.sh)")
    server, proxy = gcs_servers.bucket_on(binaries)
    with server, proxy:
        yield proxy


@pytest.fixture
def corpus_copy(small_corpus, tmp_path):
    """A private, writable copy of the small corpus (tests may damage it)."""
    target = tmp_path / "corpus"
    shutil.copytree(small_corpus, target)
    manifest = (target / "manifest.csv").read_text().replace(str(small_corpus), str(target))
    (target / "manifest.csv").write_text(manifest)
    return target
