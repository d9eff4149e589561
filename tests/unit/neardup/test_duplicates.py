"""Near-duplicates and excerpts: alignment (pure), candidate buckets (pure), the matching stage
as a Beam transform on the FnApiRunner, and the CLI end to end with an incremental night."""

import json
import os
import shutil

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipeline.synth import Reencode, Trim, excerpt_relpath_of, reencoded_relpath, synth
from pipeline.synth.copies import write_excerpt, write_reencoded
from schemas import SAMPLES_SCHEMA, QaOptions
from transforms.neardup.align import EXCERPT_A, NOTHING, SAME, align, best_alignment, verdict
from transforms.neardup.buckets import (
    POPULAR_PICTURE,
    compare_shard,
    equal_key_pairs,
    pick_offsets,
    records,
    split_by_shard,
)
from transforms.neardup.series import ClipSeries, clip_key
from transforms.beam.match_footage import MatchFootage
from transforms.neardup.plan import MatchPlan
from transforms.clip.index_clip import clip_id_for
from tests.support.runs import run_cli
from tests.support.tables import read_table as read_index_table

QA = QaOptions()
RNG = np.random.default_rng(7)


def _random_hashes(count: int) -> np.ndarray:
    return RNG.integers(-2**63, 2**63 - 1, size=count, dtype=np.int64)


def _flip(hashes: np.ndarray, bits: int) -> np.ndarray:
    """Each hash with `bits` low bits flipped: a re-encoded copy of the picture."""
    return hashes ^ np.int64((1 << bits) - 1)


def _series(name: str, times, hashes, duration_s=None, query=True) -> ClipSeries:
    times = np.asarray(times, np.float64)
    steps = np.diff(times)
    return ClipSeries(clip_id=f"{clip_key(name):016x}", times_s=times, hashes=np.asarray(hashes, np.int64),
                      duration_s=float(duration_s if duration_s is not None else times[-1] + (steps[0] if len(steps)
                                                                                             else 1)),
                      spacing_s=float(np.median(steps)) if len(steps) else 0.0, query=query)


@pytest.fixture(scope="module")
def footage():
    """A 400 s original sampled every 10 s (keyframes at 1 fps) and its densely sampled copies."""
    pictures = _random_hashes(40)
    original = _series("original", np.arange(40) * 10.0, pictures, 400.0)
    dense = _random_hashes(400)               # frames between keyframes: other pictures
    dense[::10] = _flip(pictures, 2)
    copy = _series("copy", np.arange(400) * 1.0, dense, 400.0)
    excerpt = _series("excerpt", np.arange(60) * 1.0, dense[37:97], 60.0)
    return original, copy, excerpt


# -- alignment (pure) ---------------------------------------------------------------------

def test_dense_copy_of_a_sparse_original_is_the_same_footage(footage):
    original, copy, _ = footage
    alignment = align(original, copy, 0.0, QA)
    assert (alignment.compared, alignment.agreeing, alignment.distinctive) == (40, 40, 40)
    assert alignment.mean_bits == 2.0
    assert verdict(original, copy, alignment, QA) == SAME
    assert verdict(original, copy, align(original, copy, 10.0, QA), QA) == NOTHING  # a wrong offset


def test_excerpt_found_at_its_offset_between_keyframes(footage):
    original, _, excerpt = footage
    best = best_alignment(excerpt, original, [36.0, 37.0, 38.0, 40.0], QA)
    assert best.offset_s == 37.0 and best.agreeing == best.compared == 6
    assert best.covers_a and not best.covers_b
    assert verdict(excerpt, original, best, QA) == EXCERPT_A


def test_a_static_picture_is_not_evidence():
    still = np.full(30, _random_hashes(1)[0])
    a, b = _series("a", np.arange(30.0), still), _series("b", np.arange(30.0), still)
    alignment = align(a, b, 0.0, QA)
    assert alignment.agreeing == 30 and alignment.distinctive == 0
    assert verdict(a, b, alignment, QA) == NOTHING


def _jittered(base: np.ndarray, count: int, bits: int, rng) -> np.ndarray:
    """`count` hashes of one view, each with `bits` random bits of `base` flipped (a still scene
    whose hash jitters with noise and small motion)."""
    masks = [sum(1 << int(bit) for bit in rng.choice(63, bits, replace=False)) for _ in range(count)]
    return base ^ np.array(masks, np.int64)


def test_a_short_mostly_static_copy_is_the_same_footage_but_another_stretch_is_not():
    """8 samples of one view that jitters by 4 bits (pictures 8 bits apart, never more than 10):
    a copy (1 bit off each sample) pins every moment; another stretch agrees just as well at any
    offset, so it pins none."""
    rng = np.random.default_rng(5)
    view = _random_hashes(1)[0]
    scene = _jittered(view, 16, 4, rng)
    times = np.arange(8) * 0.5
    first, second = _series("first", times, scene[:8]), _series("second", times, scene[8:])
    copy = _series("copy", times, _flip(scene[:8], 1))
    same = align(first, copy, 0.0, QA)
    assert same.agreeing == same.distinctive == 8 and verdict(first, copy, same, QA) == SAME
    other = best_alignment(first, second, [0.0, -0.5, 0.5], QA)
    assert other.fraction >= QA.dup_min_fraction and other.agreeing >= 3   # agreeing alone would pair them
    assert other.distinctive < QA.dup_min_samples and verdict(first, second, other, QA) == NOTHING


def test_clips_that_only_overlap_at_their_ends_are_nothing():
    shared = _random_hashes(5)
    a = _series("a", np.arange(20.0), np.r_[_random_hashes(15), shared])
    b = _series("b", np.arange(20.0), np.r_[shared, _random_hashes(15)])
    alignment = align(a, b, -15.0, QA)
    assert alignment.agreeing == 5 and alignment.good(QA)
    assert verdict(a, b, alignment, QA) == NOTHING


def test_distinct_clips_sharing_two_pictures_are_nothing():
    a_hashes, b_hashes = _random_hashes(20), _random_hashes(20)
    b_hashes[[3, 11]] = a_hashes[[3, 11]]
    a, b = _series("a", np.arange(20.0), a_hashes), _series("b", np.arange(20.0), b_hashes)
    assert verdict(a, b, align(a, b, 0.0, QA), QA) == NOTHING


# -- candidate buckets (pure) ----------------------------------------------------------------

@pytest.mark.parametrize("chunk", [3, 50, 10**6])
def test_equal_key_pairs_finds_every_pair_once(chunk):
    keys = RNG.integers(0, 12, size=200)
    keys[:30] = 99  # one large run
    found = set()
    for i, j in equal_key_pairs(keys, chunk_pairs=chunk):
        for pair in zip(i.tolist(), j.tolist()):
            assert pair not in found
            found.add(pair)
    expected = {(i, j) for i in range(200) for j in range(200) if i < j and keys[i] == keys[j]}
    assert {tuple(sorted(p)) for p in found} == expected


def _votes(series_list) -> np.ndarray:
    votes = []
    for band in range(4):
        parts = [records(s)[band] for s in series_list]
        shards, recs = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        votes += [compare_shard(shard, group, QA.dup_max_bits) for shard, group in split_by_shard(shards, recs)]
    return np.concatenate(votes)


def _pairs(votes) -> set:
    return {(int(a), int(b)) for a, b in zip(votes["a"], votes["b"])}


def test_each_matching_sample_pair_votes_once_and_old_pairs_are_not_compared(footage):
    original, copy, excerpt = footage
    stored = ClipSeries(**{**original.__dict__, "query": False})
    votes = _votes([stored, copy])
    assert len(votes) == 40 and set(np.round(votes["tb"] - votes["ta"], 6)) == {0.0}
    both_stored = [stored, ClipSeries(**{**copy.__dict__, "query": False})]
    assert len(_votes(both_stored)) == 0  # a nightly run compares only new clips


def test_popular_pictures_pair_only_when_their_surroundings_agree():
    """Many clips show the same picture (reused footage): only copies, whose pictures around
    it agree too, pair up; below the popularity threshold every pair does."""
    picture = _random_hashes(1)[0]
    clips = []
    for number in range(POPULAR_PICTURE + 10):
        hashes = _random_hashes(30)
        hashes[15] = picture
        clips.append(_series(f"clip{number}", np.arange(30) * 1.0, hashes))
    copy = _series("copy", np.arange(30) * 1.0, _flip(clips[0].hashes, 1))
    copy.hashes[15] = picture  # byte-identical picture in the copy too
    keys = {s.key for s in (clips[0], copy)}
    pairs = _pairs(_votes(clips + [copy]))
    assert pairs == {tuple(sorted(keys))}
    few = _pairs(_votes(clips[:4]))
    assert len(few) == 6  # 4 clips, all pairs: not popular


def test_pick_offsets_needs_two_votes_near_one_offset():
    votes = np.zeros(5, dtype=[("a", "<u8"), ("b", "<u8"), ("ta", "<f8"), ("tb", "<f8"), ("bits", "<u1")])
    votes["a"], votes["b"] = 1, 2
    votes["ta"] = [0, 10, 20, 5, 50]
    votes["tb"] = [30, 40, 50.2, 90, 60]  # offsets 30, 30, 30.2, 85, 10
    votes["b"][4] = 3
    found = list(pick_offsets(votes, 0.5))
    assert len(found) == 1
    a, b, offsets = found[0]
    assert (a, b) == (1, 2) and offsets[0] == pytest.approx(30.0, abs=0.1)


def test_pick_offsets_offers_peaks_not_a_stray_vote_beside_one():
    """A mostly still clip and its copy (tree.avi at fps:1): the still samples vote for every
    whole-second offset, the copy's true offset 0 has the most votes, and a single stray vote at
    0.667 s sits in the bin between; that bin's neighbour sum is the largest, yet 0 comes first."""
    offsets_s = [0.0] * 30 + [0.667] + [1.0] * 20 + [-1.0] * 20 + [-0.6]
    votes = np.zeros(len(offsets_s), dtype=[("a", "<u8"), ("b", "<u8"), ("ta", "<f8"), ("tb", "<f8"),
                                            ("bits", "<u1")])
    votes["a"], votes["b"], votes["tb"] = 1, 2, offsets_s
    (_, _, offsets), = pick_offsets(votes, 0.5)
    assert offsets[0] == 0.0 and 0.667 not in offsets and -0.6 not in offsets


# -- the matching stage as a Beam transform ---------------------------------------------------

def _samples_batch(series: ClipSeries, dark_at=()) -> pa.RecordBatch:
    count = len(series.times_s)
    dark = np.zeros(count, np.float32)
    dark[list(dark_at)] = 1.0
    step = np.diff(np.r_[series.times_s, series.duration_s])
    return pa.RecordBatch.from_arrays([
        pa.array([series.clip_id] * count), pa.array(series.times_s + 5.0), pa.array(step),
        pa.array([True] * count), pa.array(np.full(count, 120.0, np.float32)), pa.array(dark),
        pa.array(np.full(count, 500.0, np.float32)), pa.array(np.full(count, 30.0, np.float32)),
        pa.array(series.hashes)], schema=SAMPLES_SCHEMA)


def _run_stage(batches, plan):
    with BeamTestPipeline(runner=FnApiRunner()) as p:
        _ = p | beam.Create(batches) | MatchFootage(QA, plan)
    return {(r["clip_a"], r["clip_b"]): r for r in pq.read_table(plan.matches_path).to_pylist()}


def _excerpt_offset(row: dict, excerpt_id: str) -> tuple[str, float]:
    """(verdict seen from the excerpt, where it starts in the other clip)."""
    if row["clip_a"] == excerpt_id:
        return row["verdict"], row["offset_s"]
    return {"b_in_a": EXCERPT_A}.get(row["verdict"], row["verdict"]), -row["offset_s"]


def test_matching_stage_on_the_fn_api_runner(footage, tmp_path):
    original, copy, excerpt = footage
    others = [_series(f"other{n}", np.arange(40) * 10.0, _random_hashes(40), 400.0) for n in range(6)]
    batches = [_samples_batch(s) for s in [original, copy, excerpt, *others]]
    found = _run_stage(batches, MatchPlan(str(tmp_path / "matches.parquet")))
    held = {frozenset(k): r for k, r in found.items() if r["verdict"] != NOTHING}
    assert set(held) == {frozenset({original.clip_id, copy.clip_id}), frozenset({original.clip_id, excerpt.clip_id}),
                         frozenset({copy.clip_id, excerpt.clip_id})}
    assert held[frozenset({original.clip_id, copy.clip_id})]["verdict"] == SAME
    for container in (original, copy):
        row = held[frozenset({container.clip_id, excerpt.clip_id})]
        assert _excerpt_offset(row, excerpt.clip_id) == (EXCERPT_A, pytest.approx(37.0))


def test_matching_stage_compares_new_clips_with_stored_ones(footage, tmp_path):
    """Stored clips (a samples file of the last snapshot) are partners, never compared together."""
    original, copy, excerpt = footage
    stored_twin = _series("stored_twin", original.times_s, _flip(original.hashes, 1), 400.0)
    stored = pa.Table.from_batches([_samples_batch(original), _samples_batch(stored_twin)])
    stored_path = tmp_path / "stored.parquet"
    pq.write_table(stored, stored_path)
    plan = MatchPlan(str(tmp_path / "matches.parquet"), stored_files=(str(stored_path),))
    found = _run_stage([_samples_batch(copy)], plan)
    pairs = {frozenset(k) for k, r in found.items() if r["verdict"] == SAME}
    assert pairs == {frozenset({copy.clip_id, original.clip_id}), frozenset({copy.clip_id, stored_twin.clip_id})}
    assert all(copy.clip_id in k for k in found)  # the two stored clips were never compared


# -- end to end: planted copies and excerpts, then an incremental night ----------------------

def _clips(out):
    return {row["uri"]: row for row in read_index_table(out, "clips").to_pylist()}


def _relations(clips):
    name = {row["clip_id"]: os.path.basename(uri) for uri, row in clips.items()}
    return {os.path.basename(uri): (name.get(row["duplicate_of"]), name.get(row["excerpt_of"]),
                                     row["excerpt_offset_s"])
            for uri, row in clips.items() if row["duplicate_of"] or row["excerpt_of"]}


def test_planted_copies_and_excerpts_found_then_a_nightly_run_compares_only_new_clips(tmp_path):
    root = tmp_path / "corpus"
    plans = synth(str(root), clips=40, hours=2.0, fps=1, size="64x48", seed=21,
                  reencode=[Reencode(3, "48x36", 20_000), Reencode(17, "48x36", 20_000)],
                  trims=[Trim(8, 37, 60), Trim(30, 20, 90)])
    name = {n: os.path.basename(p.relpath) for n, p in enumerate(plans)}
    out = tmp_path / "index"
    flags = ["--decode", "keyframes", "--workers", "2", "--output", str(out)]
    first = run_cli("index", "--input", str(root / "clips/**/*.mp4"), *flags)
    assert first.returncode == 0, first.stderr
    assert _relations(_clips(out)) == {
        os.path.basename(reencoded_relpath(plans[3])): (name[3], None, None),
        os.path.basename(reencoded_relpath(plans[17])): (name[17], None, None),
        os.path.basename(excerpt_relpath_of(plans[8])): (None, name[8], 37.0),
        os.path.basename(excerpt_relpath_of(plans[30])): (None, name[30], 20.0),
    }
    run = json.loads((out / "run.json").read_text())
    assert (run["duplicates"], run["excerpts"]) == (2, 2)

    # Next night: five new clips, three of them copies of clips indexed last night.
    night = root / "clips" / "night2"
    night.mkdir()
    write_reencoded(str(root / plans[5].relpath), str(night / "copy-5.mp4"), 1, "48x36", 20_000)
    write_excerpt(str(root / plans[12].relpath), str(night / "excerpt-12.mp4"), 1, 50.0, 70.0)
    shutil.copyfile(root / plans[20].relpath, night / "bytes-20.mp4")
    extra = synth(str(tmp_path / "extra"), clips=2, hours=0.1, fps=1, size="64x48", seed=22)
    for number, plan in enumerate(extra):
        shutil.copyfile(tmp_path / "extra" / plan.relpath, night / f"fresh-{number}.mp4")
    second = run_cli("index", "--input", str(root / "clips/**/*.mp4"), *flags)
    assert second.returncode == 0, second.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["reindexed"] == 5 and run["carried_forward"] == 44
    assert run["matching_stats"]["query_clips"] == 5
    relations = _relations(_clips(out))
    assert relations["copy-5.mp4"] == (name[5], None, None)
    assert relations["excerpt-12.mp4"] == (None, name[12], 50.0)
    assert relations["bytes-20.mp4"] == (name[20], None, None)  # same bytes; the first uri is the original
    assert "fresh-0.mp4" not in relations and "fresh-1.mp4" not in relations
    assert (run["duplicates"], run["excerpts"]) == (4, 3)
    evidence = read_index_table(out, "matches").to_pylist()
    new_ids = {clip_id_for(str(night / f), str(root / "clips")) for f in os.listdir(night)}
    assert evidence and all(r["clip_a"] in new_ids or r["clip_b"] in new_ids for r in evidence)


def test_resolve_groups_copies_prefers_original_containers_and_keeps_untouched_relations():
    from transforms.neardup.apply import Excerpt, resolve

    def row(clip_id, width, uri, duration_s=100.0, **stored):
        return {"clip_id": clip_id, "uri": uri, "sha256": None, "width": width, "height": width,
                "size_bytes": 1000, "duration_s": duration_s, "run_id": "r",
                "duplicate_of": None, "excerpt_of": None, "excerpt_offset_s": None, **stored}

    rows = {r["clip_id"]: r for r in [
        row("big", 64, "/a"), row("small", 48, "/b"), row("cut", 64, "/c", 30.0),
        row("old", 64, "/d"), row("oldcopy", 32, "/e", duplicate_of="old"),
        row("oldcut", 64, "/f", 20.0, excerpt_of="old", excerpt_offset_s=12.5)]}
    decided = resolve(rows, same=[("small", "big", 0.0)],
                      excerpts=[Excerpt("cut", "small", 40.0), Excerpt("cut", "big", 41.0)],
                      kept_from={"old", "oldcopy", "oldcut"})
    assert decided["small"] == ("big", None, None)          # fewer pixels: the copy
    assert decided["cut"] == (None, "big", 41.0)             # the original's own match wins
    assert decided["oldcopy"] == ("old", None, None) and decided["oldcut"] == (None, "old", 12.5)
    assert decided["big"] == decided["old"] == (None, None, None)
    assert resolve(rows, [], [], kept_from=None)["oldcopy"] == (None, None, None)


def test_clips_resumed_from_a_checkpoint_are_matched_like_the_clips_read(tmp_path):
    """A run killed after its `a/` clips; the next run resumes them without reading them: their
    stored samples are still compared with the archive and with each other."""
    import signal
    import subprocess
    import sys

    from tests.support.runs import REPO
    from tests.support.interrupts import group_gone as _group_gone
    from tests.support.interrupts import kept_clips as _kept_clips
    from tests.support.index_compare import wait_for as _wait_for

    root = tmp_path / "corpus"
    plans = synth(str(root), clips=12, hours=0.6, fps=1, size="64x48", seed=31)
    name = {n: os.path.basename(p.relpath) for n, p in enumerate(plans)}
    out = tmp_path / "index"
    flags = ["--decode", "keyframes", "--workers", "2", "--output", str(out)]
    pattern = str(root / "clips/**/*.mp4")
    assert run_cli("index", "--input", pattern, *flags).returncode == 0

    # Tonight: a/ holds a copy of an archived clip and a new clip with its own copy; b/ hangs.
    extra = synth(str(tmp_path / "extra"), clips=2, hours=0.1, fps=1, size="64x48", seed=32)
    night_a, night_b = root / "clips" / "night" / "a", root / "clips" / "night" / "b"
    night_a.mkdir(parents=True)
    night_b.mkdir(parents=True)
    write_reencoded(str(root / plans[4].relpath), str(night_a / "copy-4.mp4"), 1, "48x36", 20_000)
    shutil.copyfile(tmp_path / "extra" / extra[0].relpath, night_a / "fresh.mp4")
    write_reencoded(str(tmp_path / "extra" / extra[0].relpath), str(night_a / "copy-fresh.mp4"), 1,
                    "48x36", 20_000)
    shutil.copyfile(tmp_path / "extra" / extra[1].relpath, night_b / "late.mp4")
    env = {**os.environ, "CLIPINDEX_TEST_HANG_ON": f"{os.sep}b{os.sep}", "CLIPINDEX_CHECKPOINT_EVERY_S": "0"}
    run = subprocess.Popen([sys.executable, "-m", "pipeline", "index", "--input", pattern, *flags,
                            "--clip-timeout-s", "600"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for(lambda: _kept_clips(out) >= 3, timeout_s=120)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate(timeout=60)
        _wait_for(lambda: _group_gone(run.pid), timeout_s=10)

    resumed = run_cli("index", "--input", pattern, *flags)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((out / "run.json").read_text())
    assert summary["from_checkpoint"] == 3 and summary["reindexed"] == 1
    assert summary["matching_stats"]["query_clips"] == 4
    relations = _relations(_clips(out))
    assert relations["copy-4.mp4"] == (name[4], None, None)
    fresh = relations.get("copy-fresh.mp4") or relations.get("fresh.mp4")
    assert fresh in {("fresh.mp4", None, None), ("copy-fresh.mp4", None, None)}, relations
    assert summary["duplicates"] == 2 and summary["excerpts"] == 0


def test_the_original_is_chosen_by_evidence_not_by_path():
    import datetime as dt

    from transforms.neardup.apply import reclassified, resolve

    def row(clip_id, uri, run_id, recorded=None, **stored):
        return {"clip_id": clip_id, "uri": uri, "sha256": "same", "width": 64, "height": 64, "size_bytes": 1000,
                "duration_s": 10.0, "run_id": run_id, "mtime_s": 1.0, "recorded_at": recorded,
                "duplicate_of": None, "excerpt_of": None, "excerpt_offset_s": None, **stored}

    day = dt.datetime(2026, 3, 11, tzinfo=dt.timezone.utc)
    # A remux added on night 4 sorts first by path; the clip indexed on night 1 stays the original.
    rows = {r["clip_id"]: r for r in [row("listed", "/z/GX010010.MP4", "night-1"),
                                      row("remux", "/a/GX010010-remux.MP4", "night-4")]}
    decided = resolve(rows, [], [], kept_from=None)
    assert decided["remux"][0] == "listed" and decided["listed"][0] is None
    # The earliest recording wins over the earliest indexed.
    rows["remux"]["recorded_at"], rows["listed"]["recorded_at"] = day, day + dt.timedelta(days=1)
    assert resolve(rows, [], [], kept_from=None)["listed"][0] == "remux"
    stored = {**rows, "listed": {**rows["listed"], "duplicate_of": None}}
    changed = reclassified(stored, resolve(rows, [], [], kept_from=None), "night-4")
    assert [c["clip_id"] for c in changed] == ["listed"] and changed[0]["duplicate_of"]["to"] == "remux"
