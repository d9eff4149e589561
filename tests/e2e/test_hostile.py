"""Every clip accounted for: one corpus of hostile inputs through the real CLI.

The promise: whatever the inputs, the run finishes (exit 0) and every matched
input is in exactly one of the clips or errors tables, errors with a named
`error_kind`. docs/hostile-inputs.md lists the kind each input gets.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from schemas import ErrorRecord, FileInfo, IndexConfig
from tests.support.runs import REPO, without_root_bypass
from tests.support.hostile_media import (
    audio_only_clip,
    cut_before_index,
    cut_inside_media_data,
    huge_dimensions_clip,
    png_bytes,
    scribble_media_data,
)
from tools.mutate import make_clip
from transforms.clip import index_clip
from transforms.clip.index_clip import index_file
from transforms.faults import CRASH_ON_ENV as CRASH_HOOK_ENV
from transforms.faults import HANG_ON_ENV as HANG_HOOK_ENV
from transforms.isolation.pool import IsolatedIndexer
from transforms.launcher.find_inputs import match_patterns
from tests.support.tables import read_table as read_index_table

# A clip name for each awkward character class users' folders hold.
ODD_NAMES = ("with space.mp4", "quote's \"double\".mp4", "new\nline.mp4", "ünïcødé-日本語.mp4")

# What each input becomes: "clip" or the error_kind. Names are relative to clips/.
EXPECTED = {
    "good.mp4": "clip",
    "one-frame.mp4": "clip",
    "cut-inside-media-data.mp4": "clip",   # readable prefix, truncated = true
    "scribbled-media-data.mp4": "clip",    # index intact; damage is in samples no one decodes
    "folder.mp4/inside.mp4": "clip",       # a folder named like a clip is still walked
    **{name: "clip" for name in ODD_NAMES},
    "zero-bytes.mp4": "empty_file",
    "notes.mp4": "not_media",
    "picture.mp4": "not_media",
    "cut-before-moov.mp4": "corrupt",
    "huge-dimensions.mp4": "corrupt",
    "audio-only.mp4": "no_video_stream",
    "folder.mp4": "not_a_file",
    "fifo.mp4": "not_a_file",
    "loop-a.mp4": "not_a_file",
    "loop-b.mp4": "not_a_file",
    "link-to-folder.mp4": "not_a_file",
    "dangling.mp4": "not_found",
    "locked.mp4": "permission_denied",
    "crash-me.mp4": "crash",
    "hang-me.mp4": "timeout",
    "recording.ts": "clip",                # grows while the run reads it
}


def _build_corpus(root) -> dict[str, bytes]:
    clips = root / "clips"
    (clips / "folder.mp4").mkdir(parents=True)
    (clips / "sub").mkdir()
    good = Path(make_clip(str(clips / "good.mp4"))).read_bytes()
    tail = Path(make_clip(str(root / "moov-at-end.mp4"), faststart=False)).read_bytes()
    make_clip(str(clips / "one-frame.mp4"), frames=1)
    make_clip(str(clips / "folder.mp4" / "inside.mp4"))
    for name in ODD_NAMES + ("crash-me.mp4", "hang-me.mp4", "locked.mp4"):
        (clips / name).write_bytes(good)
    (clips / "locked.mp4").chmod(0)
    (clips / "zero-bytes.mp4").write_bytes(b"")
    (clips / "notes.mp4").write_text("meeting notes, not a video\n" * 20)
    (clips / "picture.mp4").write_bytes(png_bytes())
    (clips / "cut-before-moov.mp4").write_bytes(cut_before_index(tail))
    (clips / "cut-inside-media-data.mp4").write_bytes(cut_inside_media_data(good))
    (clips / "scribbled-media-data.mp4").write_bytes(scribble_media_data(good))
    audio_only_clip(str(clips / "audio-only.mp4"))
    huge_dimensions_clip(str(clips / "huge-dimensions.mp4"))
    os.mkfifo(clips / "fifo.mp4")
    os.symlink(clips / "loop-b.mp4", clips / "loop-a.mp4")
    os.symlink(clips / "loop-a.mp4", clips / "loop-b.mp4")
    os.symlink(clips / "gone.mp4", clips / "dangling.mp4")
    os.symlink(clips / "sub", clips / "link-to-folder.mp4")
    os.symlink("..", clips / "sub" / "parent")  # a folder loop: matching must still end
    # A recording still being written: MPEG-TS grows packet by packet.
    recording = Path(make_clip(str(root / "full.ts"), frames=60 * 15, container="mpegts")).read_bytes()
    (clips / "recording.ts").write_bytes(recording[: 188 * (len(recording) // 188 // 4)])
    return {"good": good, "recording": recording}


class _Appender(threading.Thread):
    """Appends the rest of a recording, one 188-byte TS packet every few ms."""

    def __init__(self, path, full: bytes):
        super().__init__(daemon=True)
        self.path, self.full, self.stop = path, full, threading.Event()

    def run(self) -> None:
        with open(self.path, "ab") as handle:
            offset = handle.tell()
            while offset < len(self.full) and not self.stop.is_set():
                handle.write(self.full[offset:offset + 188])
                handle.flush()
                offset += 188
                time.sleep(0.01)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    built = _build_corpus(root)
    appender = _Appender(root / "clips" / "recording.ts", built["recording"])
    env = {**os.environ, CRASH_HOOK_ENV: "crash-me", HANG_HOOK_ENV: "hang-me"}
    command = [*without_root_bypass(), sys.executable, "-m", "pipeline", "index",
               "--input", str(root / "clips/**/*.mp4"), "--input", str(root / "clips/**/*.ts"),
               "--output", str(root / "index"), "--workers", "2", "--clip-timeout-s", "3", "--quiet"]
    appender.start()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    finally:
        appender.stop.set()
        appender.join()
    return root, result, built


def _name(root, uri: str) -> str:
    return os.path.relpath(uri, root / "clips")


def test_run_finishes_and_accounts_for_every_input(hostile_run):
    root, result, _ = hostile_run
    assert result.returncode == 0, result.stderr
    run = json.loads((root / "index/run.json").read_text())
    assert run["matched"] == run["indexed"] + run["errors"] == len(EXPECTED)
    clips = read_index_table(root / "index", "clips").to_pylist()
    errors = read_index_table(root / "index", "errors").to_pylist()
    got = {_name(root, c["uri"]): "clip" for c in clips}
    got.update({_name(root, e["uri"]): e["error_kind"] for e in errors})
    assert got == EXPECTED
    assert all(e["message"] and "\n" not in e["message"] for e in errors)
    # FFmpeg's own chatter stays off (transforms.isolation.child.quiet_ffmpeg): no log lines
    # like "[h264 @ 0x...] Invalid NAL unit size" or "moov atom not found".
    assert " @ 0x" not in result.stderr and "moov atom" not in result.stderr, result.stderr[-2000:]


def test_error_messages_say_what_happened(hostile_run):
    root, _, _ = hostile_run
    errors = {_name(root, e["uri"]): e for e in read_index_table(root / "index", "errors").to_pylist()}
    assert "SIGSEGV" in errors["crash-me.mp4"]["message"]
    assert errors["hang-me.mp4"]["stage"] == "isolate"
    assert "still image" in errors["picture.mp4"]["message"]
    assert "frame size" in errors["huge-dimensions.mp4"]["message"]
    assert "symlink loop" in errors["loop-a.mp4"]["message"]
    assert "directory" in errors["link-to-folder.mp4"]["message"]
    assert "dangling" in errors["dangling.mp4"]["message"]


def test_readable_damage_is_measured(hostile_run):
    root, _, built = hostile_run
    clips = {_name(root, c["uri"]): c for c in read_index_table(root / "index", "clips").to_pylist()}
    cut = clips["cut-inside-media-data.mp4"]
    assert cut["truncated"] and 0 < cut["frame_count"] < cut["header_frame_count"]
    assert clips["one-frame.mp4"]["frame_count"] == 1
    scribbled = clips["scribbled-media-data.mp4"]
    assert scribbled["frame_count"] == clips["good.mp4"]["frame_count"]
    assert scribbled["sha256"] != clips["good.mp4"]["sha256"]  # the damage shows in the hash
    for name in ODD_NAMES:
        assert clips[name]["sha256"] == hashlib.sha256(built["good"]).hexdigest()


def test_growing_file_is_one_consistent_prefix(hostile_run):
    root, _, built = hostile_run
    clips = {_name(root, c["uri"]): c for c in read_index_table(root / "index", "clips").to_pylist()}
    recording = clips["recording.ts"]
    size = recording["size_bytes"]
    assert 0 < size <= len(built["recording"])
    assert recording["sha256"] == hashlib.sha256(built["recording"][:size]).hexdigest()
    frames = read_index_table(root / "index", "frames", filters=[("clip_id", "=", recording["clip_id"])])
    assert frames.num_rows == recording["frame_count"] > 0


def test_file_deleted_after_matching_is_not_found(tmp_path):
    make_clip(str(tmp_path / "soon-gone.mp4"))
    [info] = match_patterns([str(tmp_path / "*.mp4")])
    os.remove(info.uri)
    indexer = IsolatedIndexer(IndexConfig())
    try:
        row = indexer.index(info)
    finally:
        indexer.close()
    assert row.error_kind == "not_found" and row.size_bytes == info.size_bytes  # size as matched


def test_file_growing_during_indexing_is_hashed_as_opened(tmp_path, monkeypatch):
    """Deterministic version of the race: bytes are appended after the file is opened."""
    path = tmp_path / "growing.mp4"
    original = Path(make_clip(str(path))).read_bytes()
    probe = index_clip.probe

    def probe_then_append(container, *stream):
        with open(path, "ab") as handle:
            handle.write(b"\0" * 5000)
        return probe(container, *stream)

    monkeypatch.setattr(index_clip, "probe", probe_then_append)
    result = index_file(FileInfo(str(path), len(original), None), IndexConfig(isolation="none"))
    clip, frames = result.clip, result.frames
    assert clip.size_bytes == len(original)
    assert clip.sha256 == hashlib.sha256(original).hexdigest()
    assert frames.num_rows == clip.frame_count
    assert any("changed size while being read" in w for w in clip.warnings)


def test_folder_loops_end_and_folders_named_like_clips_are_listed(tmp_path):
    (tmp_path / "a" / "x.mp4").mkdir(parents=True)
    (tmp_path / "a" / "clip.mp4").write_bytes(b"x")
    os.symlink("..", tmp_path / "a" / "up")
    os.symlink(tmp_path / "a", tmp_path / "b")

    def found(pattern):
        return sorted(os.path.relpath(f.uri, tmp_path) for f in match_patterns([str(tmp_path / pattern)]))

    assert found("**/*.mp4") == ["a/clip.mp4", "a/x.mp4"]        # named like a clip: listed
    assert found("**") == ["a/clip.mp4", "a/up", "b"]            # links listed, never walked
    assert found("*/*") == ["a/clip.mp4", "a/up"]                # plain folders are walked


def _rows_with_hooks(tmp_path, monkeypatch, names, make_reader, most_in_flight):
    """Index copies of one good clip named `names` through `make_reader()` (an IsolatedIndexer
    or IsolatedPool, made once the crash and hang hooks are armed, since children inherit the
    environment); (name, kind) per row, in row order."""
    monkeypatch.setenv(CRASH_HOOK_ENV, "crash-me")
    monkeypatch.setenv(HANG_HOOK_ENV, "hang-me")
    reader = make_reader()
    good = Path(make_clip(str(tmp_path / "good.mp4"))).read_bytes()
    for name in names:
        (tmp_path / name).write_bytes(good)
    rows = []
    try:
        for name in names:
            reader.submit(FileInfo(str(tmp_path / name), len(good), None))
            while reader.in_flight > most_in_flight:
                rows.append(reader.next_result())
        while reader.in_flight:
            rows.append(reader.next_result())
    finally:
        reader.close()
    return [(os.path.basename(r.uri if isinstance(r, ErrorRecord) else r.clip.uri),
             r.error_kind if isinstance(r, ErrorRecord) else "clip") for r in rows]


def test_queued_clips_survive_a_crash_and_a_hang(tmp_path, monkeypatch):
    """With a clip queued behind the one being read, only the guilty clip gets the error row."""
    names = ["a.mp4", "crash-me.mp4", "b.mp4", "hang-me.mp4", "c.mp4"]
    got = _rows_with_hooks(tmp_path, monkeypatch, names,
                           lambda: IsolatedIndexer(IndexConfig(clip_timeout_s=2)), 1)
    assert got == [("a.mp4", "clip"), ("crash-me.mp4", "crash"), ("b.mp4", "clip"),
                   ("hang-me.mp4", "timeout"), ("c.mp4", "clip")]


def test_a_pool_of_readers_blames_only_the_guilty_clip(tmp_path, monkeypatch):
    """Two readers, two queued clips each: every clip gets one row, errors only where due."""
    from transforms.isolation.pool import IsolatedPool

    names = ["a.mp4", "crash-me.mp4", "b.mp4", "c.mp4", "hang-me.mp4", "d.mp4", "e.mp4", "f.mp4"]
    def started_pool():
        pool = IsolatedPool(IndexConfig(clip_timeout_s=2), children=2)
        pool.start()
        return pool

    got = _rows_with_hooks(tmp_path, monkeypatch, names, started_pool, 3)
    assert len(got) == len(names)
    assert dict(got) == {name: {"crash-me.mp4": "crash", "hang-me.mp4": "timeout"}.get(name, "clip")
                         for name in names}
