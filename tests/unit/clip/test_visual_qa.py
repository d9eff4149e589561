"""Visual QA: metrics on numpy arrays, injected conditions measured against the truth,
duplicates (re-encoded copies found, different footage not), and the CLI end to end."""

import json
import os
import shutil

import cv2
import numpy as np
import pyarrow as pa
import pytest

from pipeline.synth import Condition, Reencode, reencoded_relpath, synth
from schemas import SAMPLES_SCHEMA, FileInfo, IndexConfig, QaOptions
from transforms.clip.qa import metrics as fm
from transforms.neardup.in_process import find_duplicates
from transforms.clip.index_clip import IndexedClip, clip_id_for, index_file
from transforms.clip.qa.analyze import intervals_s, summarize
from tests.support.runs import run_cli
from tests.support.reconcile_checks import assert_counts_add_up
from tests.support.tables import read_table as read_index_table

FPS = 30
# Truth: (kind, clip number, start_s, seconds). Clip 3 stays clean; clip 4 gets a re-encoded copy.
CONDITIONS = [Condition("black", 0, 3, 4), Condition("frozen", 1, 5, 3), Condition("blur", 2, 2, 5)]
CLEAN_CLIP, COPIED_CLIP = 3, 4


def _texture(seed: int = 0) -> np.ndarray:
    tiles = np.random.default_rng(seed).integers(40, 230, (6, 8), dtype=np.uint8)
    return cv2.resize(tiles, (160, 120), interpolation=cv2.INTER_NEAREST)


# -- pure metric functions ------------------------------------------------------------

def test_dark_fraction_and_mean_luma():
    black = np.zeros((120, 160), np.uint8)
    assert fm.dark_fraction(black, 32) == 1.0 and fm.mean_luma(black) == 0.0
    assert fm.dark_fraction(_texture(), 32) == 0.0
    half = black.copy()
    half[:, 80:] = 200
    assert fm.dark_fraction(half, 32) == pytest.approx(0.5)


def test_blur_lowers_sharpness_and_change_sees_motion():
    sharp = _texture()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    assert fm.sharpness(blurred) < QaOptions().blur_sharpness < fm.sharpness(sharp)
    assert fm.change(sharp, sharp.copy()) == 0.0
    assert fm.change(sharp, np.roll(sharp, 20, axis=1)) > 10 * QaOptions().frozen_change


def test_phash_survives_resizing_but_not_other_pictures():
    picture = _texture(1)
    smaller = cv2.resize(cv2.resize(picture, (96, 72), interpolation=cv2.INTER_AREA), (160, 120))
    assert fm.hamming(fm.phash(picture), fm.phash(smaller)) <= 4
    assert fm.hamming(fm.phash(picture), fm.phash(_texture(2))) > QaOptions().dup_max_bits
    assert -(1 << 63) <= fm.phash(picture) < (1 << 63)  # fits int64
    a = np.array([fm.phash(picture), 0], np.int64)
    assert list(fm.hamming_many(a, np.array([fm.phash(picture), -1], np.int64))) == [0, 64]


def test_analysis_size_keeps_aspect_and_never_upscales():
    assert fm.analysis_size(1920, 1080) == (160, 90)
    assert fm.analysis_size(96, 72) == (96, 72)


def test_seconds_are_the_intervals_samples_stand_for():
    pts = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    interval = intervals_s(pts, end_s=3.2)
    assert list(interval) == pytest.approx([0.5] * 5 + [0.7])
    dark = np.array([0, 1, 1, 0, 0, 0], float)
    sharp = np.array([500, 1, 1, 10, 500, 500], float)
    change = np.array([np.nan, 50, 0, 50, 0.1, 40])  # samples 3 and 4 show the same picture
    summary = summarize(interval, dark, sharp, change, QaOptions())
    assert summary.sampled_frames == 6
    assert summary.dark_s == pytest.approx(1.0)
    assert summary.frozen_s == pytest.approx(1.0)   # both samples of the unchanged pair
    assert summary.blurry_s == pytest.approx(0.5)   # dark samples are not also blurry


# -- injected conditions through index_file ----------------------------------------------

@pytest.fixture(scope="module")
def qa_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("qa_corpus")
    plans = synth(str(root), clips=6, hours=0.03, fps=FPS, seed=11, conditions=CONDITIONS,
                  reencode=[Reencode(COPIED_CLIP, size="96x72", bit_rate=30_000)])
    paths = [str(root / p.relpath) for p in plans]
    copy = str(root / reencoded_relpath(plans[COPIED_CLIP]))
    return root, paths, copy


def _index(path: str, decode: str) -> IndexedClip:
    result = index_file(FileInfo(path, None, None), IndexConfig(decode=decode, hash="none", isolation="none"))
    assert isinstance(result, IndexedClip), result
    return result


def test_injected_conditions_measured_within_a_second(qa_corpus):
    _, paths, _ = qa_corpus
    measured = {}
    for number, path in enumerate(paths):
        result = _index(path, "fps:2")
        clip = result.clip
        assert result.samples.schema.equals(SAMPLES_SCHEMA, check_metadata=False)
        assert clip.qa_sampled_frames == result.samples.num_rows == pytest.approx(clip.duration_s * 2, abs=1)
        measured[number] = {"black": clip.qa_dark_s, "frozen": clip.qa_frozen_s, "blur": clip.qa_blurry_s}
    for cond in CONDITIONS:
        got = measured[cond.clip]
        assert abs(got[cond.kind] - cond.duration_s) <= 1.0, (cond, got)
        # and no other condition is reported on that clip
        assert all(v == 0 for k, v in got.items() if k != cond.kind), (cond, got)
    for number in range(len(paths)):
        if number not in {c.clip for c in CONDITIONS}:
            assert measured[number] == {"black": 0, "frozen": 0, "blur": 0}, (number, measured[number])


def test_keyframes_mode_samples_each_keyframe(qa_corpus):
    _, paths, _ = qa_corpus
    result = _index(paths[CLEAN_CLIP], "keyframes")
    assert result.samples.num_rows == result.clip.keyframe_count
    assert all(result.samples.column("is_keyframe").to_pylist())
    assert result.clip.qa_frozen_s == result.clip.qa_dark_s == result.clip.qa_blurry_s == 0


def test_without_decode_nothing_is_sampled(qa_corpus):
    result = _index(qa_corpus[1][0], "none")
    assert result.samples is None and result.clip.qa_sampled_frames is None


def test_corrupt_packets_cost_their_frames_not_the_rest_of_the_clip(qa_corpus, tmp_path):
    _, paths, _ = qa_corpus
    data = bytearray(open(paths[CLEAN_CLIP], "rb").read())
    third = len(data) // 3
    data[third:third + 4000] = bytes(4000)  # zero a stretch of media data
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    clean = _index(paths[CLEAN_CLIP], "keyframes")
    result = _index(str(damaged), "keyframes")
    assert result.clip.qa_sampled_frames >= clean.clip.qa_sampled_frames - 2
    assert result.samples.column("pts_s").to_pylist()[-1] == clean.samples.column("pts_s").to_pylist()[-1]


# -- duplicates ---------------------------------------------------------------------------

def test_reencoded_copy_is_a_duplicate_and_different_footage_is_not(qa_corpus):
    _, paths, copy = qa_corpus
    results = [_index(p, "keyframes") for p in [*paths, copy]]
    clips = pa.Table.from_pylist([{"clip_id": r.clip.clip_id, "uri": r.clip.uri, "sha256": None,
                                   "width": r.clip.width, "height": r.clip.height,
                                   "size_bytes": r.clip.size_bytes, "duration_s": r.clip.duration_s}
                                  for r in results])
    samples = pa.Table.from_batches([r.samples for r in results])
    found = find_duplicates(clips, samples, QaOptions())
    assert found == {clip_id_for(copy): clip_id_for(paths[COPIED_CLIP])}  # the bigger one is the original


# -- end to end through the CLI -----------------------------------------------------------

def test_cli_decode_keyframes_writes_samples_and_marks_duplicates(qa_corpus, tmp_path):
    root, paths, copy = qa_corpus
    identical = str(root / "clips" / "identical-copy.mp4")
    shutil.copyfile(paths[0], identical)
    try:
        out = tmp_path / "O"
        flags = ["--decode", "keyframes", "--thumbnails", "--workers", "2"]
        result = run_cli("index", "--input", str(root / "clips/**/*.mp4"), "--output", str(out), *flags)
        assert result.returncode == 0, result.stderr
        clips = {c["uri"]: c for c in read_index_table(out, "clips").to_pylist()}
        samples = read_index_table(out, "samples")
        assert samples.num_rows == sum(c["keyframe_count"] for c in clips.values())
        assert samples.num_rows == sum(c["qa_sampled_frames"] for c in clips.values())
        duplicates = {uri: c["duplicate_of"] for uri, c in clips.items() if c["duplicate_of"]}
        # Ids are relative to the run's archive root (the folder holding the inputs): the index's own.
        assert duplicates == {copy: clips[paths[COPIED_CLIP]]["clip_id"], identical: clips[paths[0]]["clip_id"]}
        assert json.loads((out / "run.json").read_text())["duplicates"] == 2

        # Duplicates are counted apart and do not inflate the totals.
        rec = run_cli("reconcile", str(out), "--manifest", str(root / "manifest.csv"), "--json",
                      str(tmp_path / "r.json"))
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["totals"]["videos"] == len(paths) and report["totals"]["duplicates"] == 2
        assert report["discrepancy_counts"] == {"duplicate": 2}, rec.stdout
        assert_counts_add_up(report)

        # An unchanged re-run carries the samples forward instead of decoding again.
        again = run_cli("index", "--input", str(root / "clips/**/*.mp4"), "--output", str(out), *flags)
        assert again.returncode == 0, again.stderr
        assert read_index_table(out, "samples").num_rows == samples.num_rows
        assert json.loads((out / "run.json").read_text())["carried_forward"] == len(clips)
        sheets = sorted(p.name for p in (out / "thumbs").iterdir())
        assert sheets == sorted(f"{c['clip_id']}.jpg" for c in clips.values())
        sheet = cv2.imread(str(out / "thumbs" / sheets[0]), cv2.IMREAD_GRAYSCALE)
        assert sheet is not None and sheet.shape[1] == 4 * 96
    finally:
        os.unlink(identical)


def test_contact_sheet_holds_a_bounded_number_of_tiles():
    from transforms.clip.qa.contact_sheet import TILES, ContactSheet

    sheet = ContactSheet()
    for second in range(1000):
        sheet.add(float(second), _texture(second % 5))
        assert len(sheet._tiles) < 2 * TILES
    assert sheet.image().shape == (4 * 72, 4 * 96)
