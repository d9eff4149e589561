"""gs:// end to end against a real GCS API server (gcp-storage-emulator) on 127.0.0.1."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from schemas import CLIPS_SCHEMA, FRAMES_SCHEMA, ErrorRecord
from tests.support.runs import run_cli
from tests.support.reconcile_checks import assert_counts_add_up
from transforms.storage import fs as storage
from transforms.storage.parquet import read_table
from transforms.storage.snapshots import live_snapshot

pytestmark = pytest.mark.gcs
BUCKET = "evidence"
SCHEMAS = {"clips": CLIPS_SCHEMA, "frames": FRAMES_SCHEMA}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def emulator():
    if shutil.which("gcp-storage-emulator", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("gcp-storage-emulator not installed")
    port = _free_port()
    server = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "gcp-storage-emulator"), "start",
                               "--host", "127.0.0.1", "--port", str(port), "--in-memory",
                               "--default-bucket", BUCKET, "-q"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    # Only these two settings, as a user would set them: no credentials file.
    env = {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}", "GOOGLE_CLOUD_PROJECT": "clipindex-test"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.terminate()
    server.wait(timeout=10)


def _client():
    from transforms.storage.gcs import storage_client

    storage_client.cache_clear()
    return storage_client()


def _upload_tree(local_root, prefix):
    bucket = _client().bucket(BUCKET)
    uploaded = []
    for path in sorted(local_root.rglob("*.mp4")):
        name = f"{prefix}/{path.relative_to(local_root)}"
        bucket.blob(name).upload_from_filename(str(path))
        uploaded.append(f"gs://{BUCKET}/{name}")
    return uploaded


def _gs_json(uri):
    return json.loads(storage.read_text(uri))


def _rows(table, drop=("uri", "clip_id", "run_id", "index_wall_s", "bytes_read", "mtime_s", "generation")):
    return sorted(({k: v for k, v in r.items() if k not in drop} for r in table.to_pylist()),
                  key=lambda r: json.dumps(r, sort_keys=True, default=str))


def test_gs_in_gs_out_equals_local_and_runs_incrementally(emulator, small_corpus, tmp_path):
    _upload_tree(small_corpus / "clips", "bwc/clips")
    out = f"gs://{BUCKET}/index"
    started = time.monotonic()
    result = run_cli("index", "--input", f"gs://{BUCKET}/bwc/clips/**/*.mp4", "--output", out, env=emulator)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 120  # no credential time-outs
    run = _gs_json(f"{out}/run.json")
    assert run["matched"] == run["indexed"] == 12 and run["errors"] == 0
    live = live_snapshot(out)

    local = run_cli("index", "--input", str(small_corpus / "clips/**/*.mp4"), "--output", str(tmp_path / "L"))
    assert local.returncode == 0, local.stderr
    for table in ("clips", "frames"):
        remote = read_table(live.files(table), SCHEMAS[table])
        assert _rows(remote) == _rows(read_table(live_snapshot(str(tmp_path / "L")).files(table), SCHEMAS[table]))

    rec = run_cli("reconcile", out, "--expect-videos", "12", "--expect-hours", "0.05", "--json",
                  str(tmp_path / "r.json"), env=emulator)
    assert rec.returncode == 0, rec.stdout + rec.stderr
    assert_counts_add_up(json.loads((tmp_path / "r.json").read_text()))

    # Two new objects: the second run reads only those (object generation is the change marker).
    extra = sorted((small_corpus / "clips").rglob("*.mp4"))[:2]
    bucket = _client().bucket(BUCKET)
    for number, path in enumerate(extra):
        bucket.blob(f"bwc/clips/late/extra-{number}.mp4").upload_from_filename(str(path))
    again = run_cli("index", "--input", f"gs://{BUCKET}/bwc/clips/**/*.mp4", "--output", out, env=emulator)
    assert again.returncode == 0, again.stderr
    second = _gs_json(f"{out}/run.json")
    assert second["reindexed"] == 2 and second["carried_forward"] == 12 and second["matched"] == 14


def test_header_tier_fetches_a_small_part_of_a_faststart_clip(emulator, tmp_path):
    from pipeline.synth import synth
    from schemas import FileInfo, IndexConfig
    from transforms.clip.index_clip import index_file

    synth(str(tmp_path / "one"), clips=1, hours=1 / 60, seed=1)  # one one-minute 30 fps clip
    (uri,) = _upload_tree(tmp_path / "one" / "clips", "minute")
    from transforms.storage import gcs_http

    _client()
    fetched = []

    def count_media(url, received):  # every media GET's answer (transforms.storage.gcs_http)
        if "alt=media" in url:
            fetched.append(received)
    gcs_http.observers.append(count_media)
    try:
        result = index_file(FileInfo(uri, None, None), IndexConfig(hash="none", isolation="none"))
        assert not isinstance(result, ErrorRecord), result
        clip = result.clip
    finally:
        gcs_http.observers.remove(count_media)
    assert clip.frame_count == 1800 and clip.frame_count_source == "index"
    share = sum(fetched) / clip.size_bytes
    print(f"header tier over gs:// fetched {sum(fetched)} of {clip.size_bytes} bytes ({share:.1%})")
    assert share < 0.05
    # bytes_read counts what was fetched (the emulator sends one extra byte per ranged GET)
    assert abs(clip.bytes_read - sum(fetched)) <= len(fetched)


def test_gs_manifest_in_and_reconcile(emulator, small_corpus, tmp_path):
    uploaded = _upload_tree(small_corpus / "clips", "manifested/clips")
    lines = (small_corpus / "manifest.csv").read_text().splitlines()
    local_root = str(small_corpus / "clips")
    rows = [lines[0]] + [line.replace(local_root, f"gs://{BUCKET}/manifested/clips") for line in lines[1:]]
    rows.append(f"gs://{BUCKET}/manifested/clips/never-uploaded.mp4,12.5,2026-01-05T10:00:00Z,BWC-0009,OFC-0009")
    _client().bucket(BUCKET).blob("manifested/manifest.csv").upload_from_string("\n".join(rows) + "\n")
    manifest = f"gs://{BUCKET}/manifested/manifest.csv"
    out = f"gs://{BUCKET}/manifested-index"
    result = run_cli("index", "--manifest", manifest, "--output", out, env=emulator)
    assert result.returncode == 0, result.stderr
    run = _gs_json(f"{out}/run.json")
    assert run["matched"] == len(uploaded) + 1 and run["errors"] == 1 and run["error_kinds"] == {"not_found": 1}
    rec = run_cli("reconcile", out, "--manifest", manifest, "--json", str(tmp_path / "r.json"), env=emulator)
    assert rec.returncode == 1 and "discrepancies: 1" in rec.stdout and "unreadable" in rec.stdout
    assert_counts_add_up(json.loads((tmp_path / "r.json").read_text()))


def test_gs_patterns_ignore_case_and_count_what_they_skip(emulator, small_corpus):
    from transforms.launcher.find_inputs import select_inputs
    from transforms.storage.output_dir import check_index_folder
    from transforms.storage.snapshots import OutputProblem

    clip = sorted((small_corpus / "clips").rglob("*.mp4"))[0]
    bucket = _client().bucket(BUCKET)
    for name in ("cam/A/GX01.MP4", "cam/A/gx02.mp4", "cam/A/GX01.json", "cam/A/._GX01.MP4", "cam/.trash/GX09.MP4"):
        bucket.blob(name).upload_from_filename(str(clip))
    prefix = f"gs://{BUCKET}/"
    everything = select_inputs([prefix + "cam/**"])
    assert [f.uri[len(prefix):] for f in everything.files] == ["cam/A/GX01.MP4", "cam/A/gx02.mp4"]
    assert everything.skipped == {"json": 1} and everything.hidden == 2
    strict = select_inputs([prefix + "cam/**/*.mp4"], case_sensitive=True)
    assert [f.uri[len(prefix):] for f in strict.files] == ["cam/A/gx02.mp4"]
    with pytest.raises(OutputProblem, match="not a clipindex index"):
        check_index_folder(prefix + "cam")
    check_index_folder(prefix + "no-index-yet")  # nothing there: a new index may start
