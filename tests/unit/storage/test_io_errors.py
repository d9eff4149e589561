"""Errors named for what they are: a failing disk is `io_error`, not `not_found`; a failing
output fails the run, never a clip; a tag that is not UTF-8 never costs a readable clip."""

import errno
import json
import os
import subprocess

import apache_beam as beam
import av
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from schemas import ErrorRecord, FileInfo, IndexConfig
from tests.support.runs import run_cli
from tools.mutate import make_clip
from transforms.clip.index_clip import IndexedClip, index_file
from transforms.beam.index_clips import IndexClips
from transforms.storage.readers import CountingReader, os_error_kind
from tests.support.tables import read_table as read_index_table
from tests.support.tables import run_folders

LATIN1_TITLE = b"caf\xe9"                    # a camera writing Latin-1
INVALID_UTF8 = b"\xff\xfe\x80\xc3(\xa0"      # bytes no decoder accepts


def tagged_clip(path: str, title: bytes, handler: bytes = b"VideoHandler") -> str:
    """A small MP4 whose title (udta/meta/ilst ©nam) and track handler name hold these bytes:
    written with ASCII placeholders of the same length by PyAV, then patched in place."""
    source = make_clip(path + ".src.mp4", frames=45)
    title_mark, handler_mark = b"T" * len(title), b"H" * len(handler)
    with av.open(source) as src, av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
        out.metadata["title"] = title_mark.decode()
        stream = out.add_stream_from_template(src.streams.video[0])
        stream.metadata["handler_name"] = handler_mark.decode()
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    os.unlink(source)
    data = open(path, "rb").read()
    assert data.count(title_mark) == 1 and data.count(handler_mark) == 1
    with open(path, "wb") as handle:
        handle.write(data.replace(title_mark, title).replace(handler_mark, handler))
    return path


# --- which OSError is which kind -------------------------------------------------------------

@pytest.mark.parametrize("code, kind", [
    (errno.ENOENT, "not_found"), (errno.ENOTDIR, "not_found"), (errno.EACCES, "permission_denied"),
    (errno.EIO, "io_error"), (errno.ESTALE, "io_error"), (errno.EAGAIN, "io_error"),
    (errno.ETIMEDOUT, "io_error"), (errno.ELOOP, "not_a_file"), (errno.ENXIO, "not_a_file")])
def test_os_error_kinds(code, kind):
    assert os_error_kind(OSError(code, os.strerror(code))) == kind


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(str(tmp_path_factory.mktemp("io") / "disk-clip.mp4"), frames=45)


@pytest.mark.parametrize("hook, stage", [("EIO:stat", "open"), ("ESTALE:stat", "open"), ("EIO:open", "open"),
                                         ("ESTALE:open", "open"), ("EIO:read", "read"), ("ESTALE:read", "read")])
def test_every_local_read_path_names_io_errors(clip, monkeypatch, hook, stage):
    monkeypatch.setenv("CLIPINDEX_TEST_IO_ERROR", f"{hook}:disk-clip")
    row = index_file(FileInfo(clip, None, None), IndexConfig(isolation="none"))
    assert isinstance(row, ErrorRecord) and (row.error_kind, row.stage) == ("io_error", stage), row
    assert hook.split(":")[0] in row.message or os.strerror(getattr(errno, hook.split(":")[0])) in row.message
    monkeypatch.setenv("CLIPINDEX_TEST_IO_ERROR", f"{hook}:another-clip")
    assert isinstance(index_file(FileInfo(clip, None, None), IndexConfig(isolation="none")), IndexedClip)


def test_eagain_is_retried_then_an_io_error():
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)  # a non-blocking read with nothing there answers EAGAIN (None)
    reader = CountingReader(os.fdopen(read_end, "rb", buffering=0), 100)
    with pytest.raises(OSError) as raised:
        reader._read_raw(10)  # one read of the file (a pipe cannot tell its position, a file can)
    assert raised.value.errno == errno.EAGAIN and os_error_kind(raised.value) == "io_error"
    os.write(write_end, b"late")
    assert reader._read_raw(10) == b"late"  # data that does arrive is read
    os.close(write_end)
    reader.close()


def test_failed_thumbnail_write_fails_the_pipeline_not_the_clip(tmp_path):
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    clip = make_clip(str(tmp_path / "fine.mp4"), frames=30)
    (tmp_path / "blocked").write_text("a file where the thumbs folder should be")
    config = IndexConfig(decode="keyframes", thumbnails=True, thumbs_dir=str(tmp_path / "blocked" / "thumbs"),
                         isolation="none", hash="none")
    errors = []
    with pytest.raises(Exception, match="Not a directory|File exists"):
        with BeamTestPipeline(runner=FnApiRunner()) as pipeline:
            outputs = pipeline | beam.Create([FileInfo(clip, None, None)]) | IndexClips(config)
            _ = outputs.errors | beam.Map(errors.append)
    assert errors == []


# --- end to end: odd tags with --decode --thumbnails, and EIO through the isolated readers ----

def test_odd_tags_index_with_decode_and_thumbnails_and_eio_is_an_io_error(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    latin = tagged_clip(str(clips / "latin1-title.mp4"), LATIN1_TITLE)
    garbled = tagged_clip(str(clips / "invalid-utf8.mp4"), INVALID_UTF8, handler=b"Vid\xe9o" + INVALID_UTF8)
    make_clip(str(clips / "failing-disk.mp4"), frames=45)
    out = tmp_path / "O"
    result = run_cli("index", "--input", str(clips / "*.mp4"), "--output", str(out), "--decode", "keyframes",
                     "--thumbnails", env={"CLIPINDEX_TEST_IO_ERROR": "EIO:read:failing-disk"})
    assert result.returncode == 0, result.stderr
    indexed = {os.path.basename(c["uri"]): c for c in read_index_table(out, "clips").to_pylist()}
    assert set(indexed) == {os.path.basename(latin), os.path.basename(garbled)}
    for row in indexed.values():
        assert row["qa_sampled_frames"] == row["keyframe_count"] > 0
        assert (out / "thumbs" / f"{row['clip_id']}.jpg").stat().st_size > 0
    [error] = read_index_table(out, "errors").to_pylist()
    assert os.path.basename(error["uri"]) == "failing-disk.mp4" and error["error_kind"] == "io_error"
    assert json.loads((out / "run.json").read_text())["error_kinds"] == {"io_error": 1}
    rec = run_cli("reconcile", str(out), "--json", str(tmp_path / "r.json"))
    [unreadable] = json.loads((tmp_path / "r.json").read_text())["discrepancies"]
    assert unreadable["kind"] == "unreadable" and unreadable["detail"].startswith("io_error:"), rec.stdout


def _mount_tmpfs(target, size_kib: int) -> bool:
    if os.geteuid() != 0:
        return False
    target.mkdir()
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(target)],
                          capture_output=True).returncode == 0


def test_full_output_disk_fails_the_run_and_keeps_the_previous_snapshot(small_corpus, tmp_path):
    disk = tmp_path / "small-disk"
    if not _mount_tmpfs(disk, 192):
        pytest.skip("needs root and mount(8) to make a small filesystem")
    try:
        out = disk / "O"
        inputs = str(small_corpus / "clips/**/*.mp4")
        first = run_cli("index", "--input", inputs, "--output", str(out))
        assert first.returncode == 0, first.stderr
        live = json.loads((out / "run.json").read_text())["run_id"]
        # Decoding re-reads everything and adds samples and a sheet per clip: more than is left.
        full = run_cli("index", "--input", inputs, "--output", str(out), "--decode", "keyframes", "--thumbnails")
        assert full.returncode == 1, full.stderr
        last = full.stderr.strip().splitlines()[-1]
        assert "No space left on device" in last and "Traceback" not in full.stderr, last
        assert json.loads((out / "run.json").read_text())["run_id"] == live
        assert run_folders(out, "clips") == {live} and not (out / ".lock").exists()
        assert read_index_table(out, "clips").num_rows == 12
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
