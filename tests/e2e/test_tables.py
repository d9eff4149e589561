"""The tables as a warehouse reads them, after two nights on the same DIR (the second adds clips,
changes one, removes one): deltalake, Polars and DuckDB read the second night from the same
path, night 1's frame files are left alone, `reconcile --as-of` the first night reconciles as the
first night did, and a plain-Parquet read of a table folder fails instead of counting twice."""

import json
import os
import re
import shutil
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipeline.synth import synth
from tests.support.runs import run_cli
from tests.support.tables import read_table, run_json
from transforms.storage import delta_log
from transforms.storage.snapshots import NOT_PARQUET

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tables.md"


def _index(corpus, out, *flags):
    result = run_cli("index", "--input", str(corpus / "clips/**/*.mp4"), "--output", str(out), *flags)
    assert result.returncode == 0, result.stderr
    return run_json(out)


def _reconcile(out, *flags):
    result = run_cli("reconcile", str(out), "--manifest", str(out.parent / "corpus" / "manifest.csv"), *flags)
    assert result.returncode in (0, 1), result.stderr
    return result


def _frame_files(out):
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "frames").rglob("*.parquet")
            if not p.relative_to(out / "frames").parts[0].startswith("_")}


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory, small_corpus):
    root = tmp_path_factory.mktemp("two_nights")
    corpus, out = root / "corpus", root / "O"
    shutil.copytree(small_corpus, corpus)
    (corpus / "manifest.csv").write_text((corpus / "manifest.csv").read_text().replace(str(small_corpus),
                                                                                      str(corpus)))
    first = _index(corpus, out)
    first_reconcile = _reconcile(out, "--json", str(root / "first.json"))
    night1_frames = _frame_files(out)
    extra = synth(str(root / "extra"), clips=3, hours=30 / 3600, seed=11)
    for plan in extra:
        target = corpus / "clips" / "late" / os.path.basename(plan.relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(root / "extra" / plan.relpath), target)
    clips = sorted((corpus / "clips").rglob("clip-*.mp4"))
    clips[0].unlink()                                              # removed
    os.utime(clips[1], (time.time(), time.time() + 10))            # changed (read again)
    second = _index(corpus, out, "--allow-removals")
    return {"root": root, "out": out, "first": first, "second": second, "night1_frames": night1_frames,
            "first_reconcile": first_reconcile}


def test_second_night_changed_only_what_it_had_to(two_nights):
    out, first, second = two_nights["out"], two_nights["first"], two_nights["second"]
    assert second["indexed"] == 14 and second["reindexed"] == 4 and second["carried_forward"] == 10
    assert all(second["tables"][t] == first["tables"][t] + 1 for t in first["tables"])  # one commit each
    # Night 1's frame files are never modified: each is still there, same inode, same mtime.
    now = _frame_files(out)
    assert all(now.get(path) == stat for path, stat in two_nights["night1_frames"].items())
    frames = delta_log.read_state(str(out / "frames"))
    night1 = delta_log.read_state(str(out / "frames"), first["tables"]["frames"])
    added = set(frames.files) - set(night1.files)
    removed = set(night1.files) - set(frames.files)
    assert all(path.startswith(second["run_id"] + "/") for path in added)
    # Only files holding the changed or removed clip leave the table (their other rows are rewritten).
    assert len(removed) <= 2 and set(night1.files) - removed <= set(frames.files)


def test_deltalake_polars_and_duckdb_read_the_second_night(two_nights):
    import polars as pl
    from deltalake import DeltaTable

    out, second = two_nights["out"], two_nights["second"]
    clips = DeltaTable(str(out / "clips"))
    assert clips.version() == second["tables"]["clips"]
    assert clips.to_pyarrow_table().num_rows == 14  # (.to_pandas() with pandas installed; not in the lock)
    assert pl.read_delta(str(out / "clips")).height == 14
    frame_count = pl.read_delta(str(out / "clips")).get_column("frame_count").sum()
    assert pl.read_delta(str(out / "frames")).height == frame_count == second["total_frames"]
    frames = DeltaTable(str(out / "frames")).to_pyarrow_dataset()  # noqa: F841 (DuckDB finds it by name)
    clips_arrow = clips.to_pyarrow_dataset()  # noqa: F841
    assert duckdb.sql("select count(*) from clips_arrow").fetchall()[0] == (14,)
    assert duckdb.sql("select count(*) from frames").fetchall()[0] == (frame_count,)
    mismatched = duckdb.sql("""select count(*) from clips_arrow c join (select clip_id, count(*) n from frames
                               group by clip_id) f using (clip_id) where c.frame_count <> f.n""").fetchall()[0]
    assert mismatched == (0,)
    assert read_table(out, "errors").num_rows == 0 and read_table(out, "matches").num_rows >= 0


def _duckdb_with_delta():
    """A DuckDB connection with its delta extension loaded, or a skip naming why not."""
    connection = duckdb.connect()
    try:
        connection.sql("LOAD delta")
    except duckdb.Error:
        try:
            connection.sql("INSTALL delta")  # from extensions.duckdb.org: unreachable on the test machines
            connection.sql("LOAD delta")
        except duckdb.Error as problem:
            pytest.skip(f"DuckDB's delta extension is not available here ({str(problem).splitlines()[0]}); "
                        "DuckDB reads the tables through deltalake's Arrow dataset instead (docs/tables.md)")
    return connection


def test_duckdb_delta_scan_reads_the_second_night_where_its_extension_loads(two_nights):
    out, second = two_nights["out"], two_nights["second"]
    connection = _duckdb_with_delta()
    assert connection.sql(f"select count(*) from delta_scan('{out}/clips')").fetchall()[0] == (14,)
    assert connection.sql(f"select count(*) from delta_scan('{out}/frames')").fetchall()[0] == (second["total_frames"],)


def test_delta_time_travel_reads_the_first_night(two_nights):
    import polars as pl
    from deltalake import DeltaTable

    out, first = two_nights["out"], two_nights["first"]
    version = first["tables"]["clips"]
    assert DeltaTable(str(out / "clips"), version=version).to_pyarrow_table().num_rows == 12
    assert pl.read_delta(str(out / "clips"), version=version).height == 12


def test_reconcile_as_of_the_first_night_reconciles_as_it_did(two_nights):
    out, root, first = two_nights["out"], two_nights["root"], two_nights["first"]
    live_version = delta_log.read_state(str(out / "reconcile" / "discrepancies")).version
    then = json.loads((root / "first.json").read_text())
    for when in (first["run_id"], first["finished_at"]):
        result = _reconcile(out, "--as-of", when, "--json", str(root / "as-of.json"),
                            "--html", str(root / "as-of.html"))
        assert result.returncode == two_nights["first_reconcile"].returncode
        again = json.loads((root / "as-of.json").read_text())
        assert again["totals"] == then["totals"] and again["run"]["run_id"] == first["run_id"]
        assert again["discrepancies"] == then["discrepancies"]
        # The report says so, and its night-over-night history ends with that night.
        assert again["settings"]["as_of"] == when and [r["run_id"] for r in again["history"]] == [first["run_id"]]
        assert f"as of <span class=\"id\">{when}</span>" in (root / "as-of.html").read_text()
    # A look back never writes over the live discrepancies.
    assert delta_log.read_state(str(out / "reconcile" / "discrepancies")).version == live_version
    bad = run_cli("reconcile", str(out), "--as-of", "2001-01-01")
    assert bad.returncode == 2 and "had finished by then" in bad.stderr


def test_a_plain_parquet_read_of_a_table_folder_fails_loudly(two_nights):
    out = two_nights["out"]
    with pytest.raises(Exception, match=re.escape(NOT_PARQUET)):
        pq.read_table(str(out / "clips"))
    with pytest.raises(duckdb.IOException, match="No files found"):
        duckdb.sql(f"select count(*) from read_parquet('{out}/clips/*.parquet')").fetchall()
    # The live files, for engines that read plain Parquet: the symlink-format manifest.
    listed = (out / "clips" / "_symlink_format_manifest" / "manifest").read_text().split()
    assert duckdb.sql(f"select count(*) from read_parquet({listed!r})").fetchall()[0] == (14,)


def test_every_query_in_docs_tables_counts_the_second_night(two_nights):
    """docs/tables.md's tested block, run as written against DIR (the two-night index)."""
    match = re.search(r"<!-- tested: queries -->\s*```python\n(.*?)```", DOCS.read_text(), re.S)
    assert match, "docs/tables.md has no tested queries block"
    printed = []
    namespace = {"DIR": str(two_nights["out"]), "print": lambda *a: printed.append(a)}
    exec(compile(match.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 (our own docs)
    counts = {label: value for label, value in printed}
    second, first = two_nights["second"], two_nights["first"]
    assert counts["clips"] == [14] * counts["readers"]
    assert counts["frames"] == [second["total_frames"]] * counts["readers"]
    assert counts["clips on the first night"] == [12] * counts["readers"]
    assert counts["manifest"] == 14 and first["indexed"] == 12
