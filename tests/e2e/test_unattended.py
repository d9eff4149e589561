"""Unattended nights: the mass-disappearance guard, retention by age, commits rolled forward after
a crash between two tables' commits, retry-safe Parquet finalize, and rows re-read under new definitions but
not under new thresholds."""

import json
import os
import shutil

import pyarrow.parquet as pq
import pytest

from pipeline.synth import Condition, synth
from schemas import ERRORS_SCHEMA, ErrorRecord, FileInfo, IndexConfig, QaOptions
from tests.support.runs import run_cli
from tests.support.index_compare import assert_same_index
from transforms.launcher.incremental import ROW_DEFINITIONS_VERSION, plan_run
from transforms.storage import delta_log
from transforms.storage.parquet import count_rows, read_table
from schemas import CLIPS_SCHEMA
from transforms.launcher.removal_guard import TooManyRemoved, check_removals, top_folders
from tests.support.tables import read_table as read_index_table
from tests.support.tables import run_folders
from transforms.storage.snapshots import live_snapshot, snapshot_of


def _table_files(out, table):
    """Data files in a table's folder (what a vacuum leaves), the log and manifest left out."""
    folder = out / table
    return {str(p) for p in folder.rglob("*.parquet") if not p.relative_to(folder).parts[0].startswith("_")}


def _index(corpus, out, *flags, env=None, expect=0):
    result = run_cli("index", "--input", str(corpus / "clips/**/*.mp4"), "--output", str(out), *flags, env=env)
    assert result.returncode == expect, result.stderr
    return result


def _run(out):
    return json.loads((out / "run.json").read_text())


# --- the guard -------------------------------------------------------------------------------

def test_guard_names_the_folders_holding_most_of_the_removed():
    removed = ["/m/a/1.mp4", "/m/a/2.mp4", "/m/b/3.mp4", "/m/c/4.mp4", "/m/a/5.mp4"]
    assert top_folders(removed, 2) == [("/m/a", 3), ("/m/b", 1)]
    check_removals(removed[:1], 20, 0.05, allowed=False)   # 5 %: not more than the share
    check_removals(removed, 20, 0.05, allowed=True)
    check_removals(removed, 0, 0.05, allowed=False)         # nothing live yet
    with pytest.raises(TooManyRemoved, match=r"^5 of the 20 inputs .*\(25%\).* most were in /m/a \(3\), /m/b"):
        check_removals(removed, 20, 0.05, allowed=False)


def test_moving_away_30_percent_stops_the_run_until_allowed(corpus_copy, tmp_path):
    out = tmp_path / "O"
    _index(corpus_copy, out)
    first = _run(out)
    clips = sorted((corpus_copy / "clips").rglob("*.mp4"))
    unmounted = tmp_path / "unmounted"
    unmounted.mkdir()
    moved = clips[:4]  # 4 of 12: 33 %
    for path in moved:
        shutil.move(str(path), unmounted / path.name)

    plan = plan_run([FileInfo("/elsewhere.mp4", 1, 1.0)], live_snapshot(str(out)), {"other": "key"})
    assert plan.full_reason and plan.live_inputs == 12 and len(plan.removed) == 12  # a full re-read sees them too

    stopped = _index(corpus_copy, out, expect=1)
    last = stopped.stderr.strip().splitlines()[-1]
    assert last.startswith("clipindex: run stopped: 4 of the 12 inputs in the live snapshot (33%)"), last
    assert str(moved[0].parent) in last and "--allow-removals" in last and "Traceback" not in stopped.stderr
    assert _run(out)["run_id"] == first["run_id"]
    assert run_folders(out, "clips") == {first["run_id"]} and not (out / ".lock").exists()
    assert read_index_table(out, "clips").num_rows == 12

    _index(corpus_copy, out, "--allow-removals", "--keep-days", "0")
    allowed = _run(out)
    assert allowed["matched"] == 8 and allowed["reindexed"] == 0
    removed = allowed["changes"]["removed"]
    assert removed["count"] == 4 and removed["uris"] == sorted(str(p) for p in moved)
    assert sum(removed["by_folder"].values()) == 4
    # --keep-days 0: nothing reads the first night's files any more (all 12 rows were carried by
    # reference; the 4 removed clips' files were rewritten, the old ones vacuumed)
    assert all(os.path.exists(path) for path in live_snapshot(str(out)).files("frames"))
    assert _table_files(out, "frames") == set(live_snapshot(str(out)).files("frames"))
    assert sorted(os.listdir(out / "runs")) == sorted(f"{r['run_id']}.json" for r in (first, allowed))

    # Rows computed under an older definitions version are read again, not carried forward.
    live = out / "run.json"
    older = json.loads(live.read_text())
    older["options_key"]["definitions_version"] = ROW_DEFINITIONS_VERSION - 1
    live.write_text(json.dumps(older))
    _index(corpus_copy, out)
    again = _run(out)
    assert again["reindexed"] == 8 and "definitions" in again["changes"]["full_reindex_reason"]
    # 30 days kept by default: the files the previous night read stay (time travel, --as-of)
    assert again["run_id"] in run_folders(out, "clips")
    assert all(os.path.exists(path) for path in snapshot_of(str(out), allowed).files("frames"))


# --- commits finished after a crash between their steps --------------------------------------

@pytest.fixture(scope="module")
def committed_once(tmp_path_factory, small_corpus):
    """A corpus with 3 clips more than the committed index of it, and the index of all of it."""
    root = tmp_path_factory.mktemp("commit_crash")
    corpus = root / "corpus"
    shutil.copytree(small_corpus, corpus)
    _index(corpus, root / "O")
    extra = synth(str(root / "extra"), clips=3, hours=30 / 3600, seed=5)
    for plan in extra:
        target = corpus / "clips" / "late" / os.path.basename(plan.relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(root / "extra" / plan.relpath), target)
    _index(corpus, root / "full")
    return root


# Every point between the night's files and DIR/run.json: before the commit is decided the night
# is dropped (its rows wait in the checkpoint), after it the next run rolls it forward.
KILL_POINTS = ["commit:before_intent", "commit:before_tables", "commit:after_errors", "commit:after_samples",
               "commit:after_frames", "commit:after_matches", "commit:after_clips", "commit:before_live",
               "commit:after_live"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_run_killed_between_table_commits_is_rolled_forward(committed_once, tmp_path, point):
    corpus, out = committed_once / "corpus", tmp_path / "O"
    shutil.copytree(committed_once / "O", out, symlinks=True)
    first = _run(out)["run_id"]
    decided = point != "commit:before_intent"

    killed = run_cli("index", "--input", str(corpus / "clips/**/*.mp4"), "--output", str(out),
                     env={"CLIPINDEX_TEST_KILL_AT": point})
    assert killed.returncode == -9, killed.stderr
    (out / "run.json.tmp-999999").write_text("left by a replace the kill cut short")
    # Whatever tables the killed run committed, clipindex's readers still see one whole night.
    live = live_snapshot(str(out))
    assert live.run_id == (first if point != "commit:after_live" else live.run_id)
    assert read_table(live.files("clips"), CLIPS_SCHEMA).num_rows == (12 if live.run_id == first else 15)
    assert count_rows(live.files("frames")) == sum(read_table(live.files("clips"), CLIPS_SCHEMA,
                                                              ["frame_count"]).column("frame_count").to_pylist())

    _index(corpus, out)
    after = _run(out)
    # Not decided: the killed run's rows wait in its checkpoint (transforms.storage.checkpoints), so the
    # next run resumes them instead of reading the 3 clips again. Decided: rolled forward, nothing to read.
    assert after["reindexed"] == 0 and after["matched"] == 15
    assert after["from_checkpoint"] == (0 if decided else 3)
    history = sorted(name[:-5] for name in os.listdir(out / "runs"))
    assert len(history) == (3 if decided else 2) and first in history and after["run_id"] in history
    # Every table's newest version is the last run's, and run.json names it: one night throughout.
    for table, version in after["tables"].items():
        assert delta_log.read_state(str(out / table)).version == version
        assert delta_log.read_state(str(out / table)).txn["clipindex"] == after["seq"]
    assert not (out / ".lock").exists() and not list(out.glob("*.tmp-*"))
    assert not list((out / "_commit").glob("*")) and not list((out / "_work").glob("*"))
    assert_same_index(out, committed_once / "full")


def test_parquet_finalize_is_retry_safe_and_cleans_failed_bundles(tmp_path):
    from apache_beam.utils.windowed_value import WindowedValue

    from transforms.beam.write_index import RECORDS_PER_TABLE, WriteParquetShardsFn, _commit_files
    from schemas import errors_to_table

    table_dir = tmp_path / "errors"
    table_dir.mkdir()
    row = ErrorRecord("/x/a.mp4", "id", 1, None, None, "io_error", "read", "EIO", "run")
    fn = WriteParquetShardsFn(f"{table_dir}/run-part", ERRORS_SCHEMA, errors_to_table, RECORDS_PER_TABLE)
    fn.setup()
    fn.start_bundle()  # a bundle that dies after writing part of its file
    fn.process(row)
    fn._flush()
    fn._wait_for_write()
    fn.start_bundle()  # its retry
    fn.process(row)
    paths = [value.value if isinstance(value, WindowedValue) else value for value in fn.finish_bundle()]
    fn.teardown()
    assert len(list(table_dir.glob(".*.tmp"))) == 2
    assert _commit_files(paths, [str(table_dir)]) == paths
    assert _commit_files(paths, [str(table_dir)]) == paths  # a retried commit finishes, no "already moved"
    assert sorted(os.listdir(table_dir)) == [os.path.basename(p) for p in paths]  # the dead bundle's file is gone
    assert pq.read_table(str(table_dir)).num_rows == 1
    os.unlink(paths[0])
    with pytest.raises(FileNotFoundError):  # neither name exists: that is a loss, said loudly
        _commit_files(paths, [str(table_dir)])


# --- definitions version and thresholds ------------------------------------------------------

def test_options_key_holds_definitions_and_ffmpeg_but_not_thresholds():
    import av

    from pipeline.options import options_key, qa_thresholds

    base = IndexConfig(decode="keyframes")
    key = options_key(base)
    assert key["definitions_version"] == ROW_DEFINITIONS_VERSION and key["ffmpeg"] == av.ffmpeg_version_info
    stricter = IndexConfig(decode="keyframes", qa=QaOptions(blur_sharpness=99, dup_max_bits=3, dark_fraction=0.5))
    assert options_key(stricter) == key and qa_thresholds(stricter) != qa_thresholds(base)
    assert options_key(IndexConfig(decode="keyframes", qa=QaOptions(dark_luma=20))) != key  # shapes samples


def test_new_thresholds_recompute_qa_seconds_without_decoding(tmp_path):
    corpus = tmp_path / "corpus"
    synth(str(corpus), clips=3, hours=45 / 3600, seed=8,
          conditions=[Condition("black", 0, 3, 4), Condition("blur", 1, 2, 5), Condition("frozen", 2, 4, 3)])
    decode = ["--decode", "fps:2", "--hash", "none"]
    thresholds = ["--qa-blur-sharpness", "600", "--qa-dark-fraction", "0.5", "--qa-frozen-change", "5",
                  "--dup-max-bits", "4"]
    out = tmp_path / "O"
    _index(corpus, out, *decode)
    before = {c["uri"]: c for c in read_index_table(out, "clips").to_pylist()}
    _index(corpus, out, *decode, *thresholds)
    run = _run(out)
    assert run["reindexed"] == 0 and run["carried_forward"] == 3  # nothing decoded again
    fresh = tmp_path / "fresh"
    _index(corpus, fresh, *decode, *thresholds)

    def qa(index_dir):
        return {c["uri"]: (c["qa_dark_s"], c["qa_frozen_s"], c["qa_blurry_s"], c["qa_sampled_frames"])
                for c in read_index_table(index_dir, "clips").to_pylist()}
    assert qa(out) == qa(fresh)
    assert qa(out) != {uri: (c["qa_dark_s"], c["qa_frozen_s"], c["qa_blurry_s"], c["qa_sampled_frames"])
                       for uri, c in before.items()}  # the new thresholds did change the seconds
    assert_same_index(out, fresh)
