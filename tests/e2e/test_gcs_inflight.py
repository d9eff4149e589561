"""gs:// at a bucket's round trip: requests per clip counted where a bucket would count them.

fake-gcs-server (built by tools/fetch_fake_gcs.sh; skipped when it is not) behind the
delaying, counting proxy of bench/gcs_servers.py. The header tier must read a faststart
or moov-at-end MP4 in at most two requests (no metadata GET: the listing gave size and
generation), many clips must be in flight per worker, and the rows must equal the rows of
the same files on local disk, whatever the container.
"""

import json
import os
import shutil
import subprocess

import pytest

from bench import gcs_servers
from schemas import ErrorRecord, FileInfo, IndexConfig
from tests.support.runs import run_cli
from tests.support.tables import read_table as read_index_table

pytestmark = pytest.mark.gcs
BUCKET = "archive"
LOCATION = ("uri", "clip_id", "run_id", "index_wall_s", "bytes_read", "mtime_s", "generation")


@pytest.fixture(scope="module")
def bucket():
    binaries = gcs_servers.built_binaries()
    if binaries is None:
        pytest.skip("fake-gcs-server not built (tools/fetch_fake_gcs.sh)")
    server, proxy = gcs_servers.bucket_on(binaries)
    with server, proxy:
        env = proxy.client_env()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        _client().create_bucket(BUCKET)
        yield proxy
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _client()


def _client():
    from transforms.storage.gcs import storage_client

    storage_client.cache_clear()
    return storage_client()


def _ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True, timeout=300)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Faststart one-minute clips (synth), a camera clip with its moov at the end, the same clip
    with a faststart moov larger than the head, and (other read paths) fragmented MP4 and MKV."""
    from pipeline.synth import synth

    root = tmp_path_factory.mktemp("inflight")
    synth(str(root / "synth"), clips=6, hours=0.1, fps=30, seed=5)
    clips = root / "clips"
    for number, path in enumerate(sorted((root / "synth" / "clips").rglob("*.mp4"))):
        target = clips / "minute" / f"m{number}.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    camera = clips / "camera"
    camera.mkdir()
    if shutil.which("ffmpeg"):
        from bench.corpus.camera import has_encoder, make_clip

        if has_encoder("libx264"):
            make_clip(str(camera / "moov-at-end.mp4"), "bodycam_moov_at_end", 150, seed=3)
            _ffmpeg("-i", str(camera / "moov-at-end.mp4"), "-c", "copy", "-movflags", "+faststart",
                    str(camera / "faststart.mp4"))
            _ffmpeg("-i", str(camera / "moov-at-end.mp4"), "-c", "copy", "-movflags",
                    "frag_keyframe+empty_moov+default_base_moof", str(camera / "fragmented.mp4"))
            _ffmpeg("-i", str(camera / "moov-at-end.mp4"), "-c", "copy", str(camera / "camera.mkv"))
    return clips


@pytest.fixture(scope="module")
def uploaded(bucket, corpus):
    target = _client().bucket(BUCKET)
    for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
        target.blob(f"clips/{path.relative_to(corpus)}").upload_from_filename(str(path))
    return corpus


def _listed(pattern):
    from transforms.launcher.find_inputs import select_inputs

    return select_inputs([pattern]).files


def test_header_tier_reads_a_faststart_or_moov_at_end_mp4_in_two_requests(bucket, uploaded):
    from transforms.clip.index_clip import index_file

    infos = [info for info in _listed(f"gs://{BUCKET}/clips/**/*.mp4") if "fragmented" not in info.uri]
    assert len(infos) >= 6
    counted = {}
    for info in infos:
        bucket.reset()
        result = index_file(info, IndexConfig(tier="header", hash="none", isolation="none"))
        assert not isinstance(result, ErrorRecord), result
        assert result.clip.frame_count_source == "index", info.uri
        stats = bucket.stats()
        counted[info.uri.rsplit("/", 2)[-2] + "/" + info.uri.rsplit("/", 1)[-1]] = stats["kinds"]
        assert stats["kinds"].get("metadata", 0) == 0, (info.uri, stats)   # size/generation from the listing
        assert stats["kinds"].get("media", 0) <= 2, (info.uri, stats)
        assert result.storage["requests"] == stats["kinds"]["media"]
        assert result.clip.bytes_read == result.storage["bytes"]
    print(f"requests per clip at the proxy: {json.dumps(counted)}")
    assert all(kinds["media"] == 1 for name, kinds in counted.items() if name.startswith("minute/"))


def test_gs_rows_equal_local_rows_with_many_clips_in_flight(bucket, uploaded, tmp_path):
    bucket.set_delay(20)
    try:
        bucket.reset()
        gs = run_cli("index", "--input", f"gs://{BUCKET}/clips/**", "--output", str(tmp_path / "gs"),
                     "--tier", "header", "--hash", "sha256", "--workers", "2", "--gcs-inflight", "8",
                     env=bucket.client_env())
        stats = bucket.stats()
    finally:
        bucket.set_delay(0)
    assert gs.returncode == 0, gs.stderr
    local = run_cli("index", "--input", str(uploaded / "**"), "--output", str(tmp_path / "local"),
                    "--tier", "header", "--hash", "sha256", "--workers", "2")
    assert local.returncode == 0, local.stderr
    run = json.loads((tmp_path / "gs" / "run.json").read_text())
    assert run["errors"] == 0 and run["indexed"] == len([p for p in uploaded.rglob("*") if p.is_file()])
    assert run["storage"]["clips"] == run["indexed"] and run["listing_s"] >= 0
    assert run["storage"]["requests"] <= stats["kinds"]["media"]  # the proxy also sees the library's retries
    assert "requests/clip" in gs.stdout
    assert stats["max_in_flight"] > 2, stats  # more requests in flight than readers
    for table in ("clips", "frames"):
        assert _rows(tmp_path / "gs", table, uploaded) == _rows(tmp_path / "local", table, uploaded), table


def _rows(index_dir, name, root):
    table = read_index_table(index_dir, name)
    if "uri" in table.column_names:  # clips: keyed by the path below the corpus root
        rows = [{**{k: v for k, v in r.items() if k not in LOCATION}, "path": r["uri"].split("/clips/", 1)[-1]
                 if r["uri"].startswith("gs://") else os.path.relpath(r["uri"], root)} for r in table.to_pylist()]
        return sorted(rows, key=lambda r: r["path"])
    return sorted(table.drop(["clip_id"]).to_pylist(), key=lambda r: json.dumps(r, sort_keys=True, default=str))


def test_an_object_rewritten_after_the_listing_is_read_as_it_is_now(bucket, uploaded, tmp_path):
    from transforms.clip.index_clip import index_file

    source = sorted((uploaded / "minute").glob("*.mp4"))
    blob = _client().bucket(BUCKET).blob("moved/clip.mp4")
    blob.upload_from_filename(str(source[0]))
    (listed,) = _listed(f"gs://{BUCKET}/moved/*.mp4")
    blob.upload_from_filename(str(source[1]))  # a new generation: the listed one is gone
    result = index_file(listed, IndexConfig(hash="sha256", isolation="none"))
    assert not isinstance(result, ErrorRecord), result
    expected = index_file(FileInfo(str(source[1]), None, None), IndexConfig(hash="sha256", isolation="none"))
    assert result.clip.sha256 == expected.clip.sha256
    blob.delete()
    gone = index_file(listed, IndexConfig(hash="none", isolation="none"))
    assert isinstance(gone, ErrorRecord) and gone.error_kind == "not_found", gone


def _boxes(*boxes):
    """(type, size) top-level boxes as a byte layout: {offset: header bytes} and the file size."""
    import struct

    layout, offset = {}, 0
    for box_type, size in boxes:
        layout[offset] = struct.pack(">I4s", size, box_type) if size < 2**32 else \
            struct.pack(">I4sQ", 1, box_type, size)
        offset += size
    return layout, offset


def _planned_reads(layout, size):
    """The reads gcs_prefetch plans for a file whose bytes are zeros but for the box headers."""
    from transforms.storage import gcs_prefetch

    def read(start, end):
        data = bytearray(end - start)
        for at, header in layout.items():
            for i, byte in enumerate(header):
                if start <= at + i < end:
                    data[at + i - start] = byte
        return bytes(data)

    have = gcs_prefetch._Extents([])
    reads = [(0, gcs_prefetch.head_bytes(size))]
    have.add(0, read(*reads[0]))
    while (wanted := gcs_prefetch.next_read(have, size)) is not None and len(reads) < gcs_prefetch.MAX_READS:
        reads.append(wanted)
        have.add(wanted[0], read(*wanted))
    return reads


def test_the_reads_follow_the_top_level_boxes():
    from transforms.storage.gcs_prefetch import PROBE_BYTES

    minute = _boxes((b"ftyp", 32), (b"moov", 8224), (b"free", 8), (b"mdat", 506727))
    assert _planned_reads(*minute) == [(0, 20480)]
    camera = _boxes((b"ftyp", 32), (b"free", 8), (b"mdat", 18848573), (b"moov", 474470))
    assert _planned_reads(*camera) == [(0, 131072), (18848613, 19323083)]
    faststart = _boxes((b"ftyp", 32), (b"moov", 474070), (b"free", 8), (b"mdat", 18848573))
    assert _planned_reads(*faststart) == [(0, 131072), (131072, 32 + 474070 + 131072)]
    four_hours = _boxes((b"ftyp", 32), (b"mdat", 2**33), (b"moov", 20 * 2**20))  # a 64-bit mdat, a 20 MiB moov
    reads = _planned_reads(*four_hours)
    assert reads[1] == (32 + 2**33, 32 + 2**33 + PROBE_BYTES) and reads[2] == (reads[1][1], four_hours[1])
    fragmented = _boxes((b"ftyp", 32), (b"moov", 1200), (b"moof", 900), (b"mdat", 80000), (b"moof", 900),
                        (b"mdat", 80000))
    assert len(_planned_reads(*fragmented)) == 1
    assert _planned_reads({0: b"\x1aE\xdf\xa3" + b"\0" * 12}, 5_000_000) == [(0, 78125)]  # MKV: the head only


def test_bucket_benchmark_harness_on_four_clips(bucket, tmp_path):
    """bench/bucket.py end to end on a tiny corpus (its own fake-gcs-server and proxy)."""
    import sys

    done = subprocess.run([sys.executable, "-m", "bench.bucket", "--clips", "4", "--camera-clips", "0",
                           "--delays", "0,20", "--listing-objects", "500", "--corpus", str(tmp_path / "corpus"),
                           "--root", str(tmp_path / "root"), "--results", str(tmp_path / "results")],
                          capture_output=True, text=True, timeout=600, cwd=gcs_servers.REPO,
                          env={**os.environ, "PYTHONPATH": gcs_servers.REPO})
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = (tmp_path / "results").glob("bucket-*.json")
    result = json.loads(path.read_text())
    minute = result["corpora"]["minute-4"]
    assert minute["gs"]["20"]["rows_equal_local"] and minute["gs"]["20"]["requests_per_clip"] <= 2
    assert minute["gs"]["20"]["storage"]["clips"] == 4
    assert result["listing"]["0"]["objects"] == 500 and result["boston_projection_s"]["20"] > 0
