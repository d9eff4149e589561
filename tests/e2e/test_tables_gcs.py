"""The two nights of test_tables.py with inputs and index on gs://, read back from the bucket.

fake-gcs-server (what delta-rs tests its GCS store against; tools/fetch_fake_gcs.sh builds it,
and the tests skip without it) on 127.0.0.1. The second night adds clips, rewrites one object
(a new generation: read again) and removes one; deltalake, Polars and DuckDB (over deltalake's
Arrow dataset) read the second night from the stable `gs://.../index/clips` path and the first
night by version; night 1's frame objects keep their generations; `reconcile --as-of` the first
night reconciles as the first night did.
"""

import json
import os

import duckdb
import pytest

from pipeline.synth import synth
from tests.support.runs import run_cli
from tests.support.tables import delta_table, run_json, storage_options
from transforms.storage import delta_log

pytestmark = pytest.mark.gcs
BUCKET = "tables"
INDEX = f"gs://{BUCKET}/index"


def _client():
    from transforms.storage.gcs import storage_client

    storage_client.cache_clear()
    return storage_client()


@pytest.fixture(scope="module")
def bucket(fake_gcs):
    """The emulator's settings in this process (deltalake, clipindex's reads) and its runs."""
    env = fake_gcs.client_env()
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield _client().create_bucket(BUCKET)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _client()  # the next user builds its client from the restored settings


def _index(*flags):
    result = run_cli("index", "--input", f"gs://{BUCKET}/clips/**/*.mp4", "--output", INDEX, *flags)
    assert result.returncode == 0, result.stderr
    return run_json(INDEX)


def _reconcile(json_path, *flags):
    result = run_cli("reconcile", INDEX, "--expect-videos", "12", "--json", str(json_path), *flags)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(json_path.read_text())


def _frame_generations(bucket):
    return {blob.name: blob.generation for blob in bucket.list_blobs(prefix="index/frames/")
            if blob.name.endswith(".parquet")}


@pytest.fixture(scope="module")
def two_nights(bucket, small_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("gs_nights")
    clips = sorted((small_corpus / "clips").rglob("*.mp4"))
    for path in clips:
        bucket.blob(f"clips/{path.relative_to(small_corpus / 'clips')}").upload_from_filename(str(path))
    first = _index()
    first_reconcile = _reconcile(root / "first.json")
    night1_frames = _frame_generations(bucket)
    for plan in synth(str(root / "extra"), clips=3, hours=30 / 3600, seed=11):  # new
        name = f"clips/late/{os.path.basename(plan.relpath)}"
        bucket.blob(name).upload_from_filename(str(root / "extra" / plan.relpath))
    names = sorted(blob.name for blob in bucket.list_blobs(prefix="clips/") if "/late/" not in blob.name)
    bucket.blob(names[0]).delete()                                                   # removed
    bucket.blob(names[1]).upload_from_filename(str(small_corpus / "clips" / names[1][len("clips/"):]))  # changed
    second = _index("--allow-removals")
    return {"root": root, "first": first, "second": second, "first_reconcile": first_reconcile,
            "night1_frames": night1_frames, "bucket": bucket}


def test_the_second_night_on_gs_changed_only_what_it_had_to(two_nights):
    first, second = two_nights["first"], two_nights["second"]
    assert (first["indexed"], second["indexed"]) == (12, 14)
    assert second["reindexed"] == 4 and second["carried_forward"] == 10
    assert all(second["tables"][t] == first["tables"][t] + 1 for t in first["tables"])  # one commit each
    now = _frame_generations(two_nights["bucket"])
    assert two_nights["night1_frames"] and all(now.get(name) == generation
                                               for name, generation in two_nights["night1_frames"].items())
    added = set(delta_log.read_state(f"{INDEX}/frames").files) - set(
        delta_log.read_state(f"{INDEX}/frames", first["tables"]["frames"]).files)
    assert added and all(path.startswith(second["run_id"] + "/") for path in added)


def test_deltalake_polars_and_duckdb_read_both_nights_from_the_bucket(two_nights):
    import polars as pl

    first, second = two_nights["first"], two_nights["second"]
    options = storage_options(INDEX)
    clips = delta_table(INDEX, "clips", version="latest")
    assert clips.version() == second["tables"]["clips"]
    assert clips.to_pyarrow_table().num_rows == 14
    assert pl.read_delta(f"{INDEX}/clips", storage_options=options).height == 14
    frames = delta_table(INDEX, "frames", version="latest").to_pyarrow_dataset()  # noqa: F841 (DuckDB by name)
    assert duckdb.sql("select count(*) from frames").fetchall()[0] == (second["total_frames"],)
    then = first["tables"]["clips"]
    assert delta_table(INDEX, "clips", version=then).to_pyarrow_table().num_rows == 12
    assert pl.read_delta(f"{INDEX}/clips", version=then, storage_options=options).height == 12
    # The manifest for plain-Parquet engines names exactly the live files.
    from transforms.storage import fs

    listed = fs.read_text(f"{INDEX}/clips/_symlink_format_manifest/manifest").split()
    assert sorted(listed) == sorted(clips.file_uris())


def test_reconcile_as_of_the_first_night_on_gs(two_nights):
    root, first = two_nights["root"], two_nights["first"]
    code, then = two_nights["first_reconcile"]
    live = delta_log.read_state(f"{INDEX}/reconcile/discrepancies").version
    again_code, again = _reconcile(root / "as-of.json", "--as-of", first["run_id"])
    assert again_code == code and again["run"]["run_id"] == first["run_id"]
    assert again["totals"] == then["totals"] and again["discrepancies"] == then["discrepancies"]
    assert delta_log.read_state(f"{INDEX}/reconcile/discrepancies").version == live
