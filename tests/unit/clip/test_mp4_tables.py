"""The MP4/MOV sample-table tier against FFmpeg: every packet FFmpeg demuxes, from the tables alone.

For each kind of clip (tests/support/mp4_media.py: B-frames, composition offsets,
edit lists, timecode and subtitle tracks, HEVC, MOV, co64, fragmented files),
transforms.clip.mp4.header_tier must take the table and it must equal the packets PyAV's
FFmpeg demuxes: pts, dts, duration, position, size, keyframe and discard
flags. Then the same through the indexer (the frames table is the packets
tier's, row for row) and through the CLI (frames pts equal ffprobe's).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from schemas import ErrorRecord, FileInfo, IndexConfig
from tests.support import mp4_media
from tests.support.runs import needs_ffprobe, run_cli
from tests.support.oracle import ffprobe as oracle_ffprobe
from tests.support.oracle import assert_table_is_ffmpegs, mp4_table_and_packets
from transforms.clip.index_clip import index_file
from tests.support.tables import read_table as read_index_table

pytestmark = needs_ffprobe
CONFIG = IndexConfig(hash="none", isolation="none")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return str(tmp_path_factory.mktemp("mp4_tables"))


def made(folder: str, name: str) -> str:
    reason = mp4_media.skip_reason(name)
    if reason:
        pytest.skip(reason)
    return mp4_media.clip(folder, name)


def index(path: str, tier: str = "auto"):
    result = index_file(FileInfo(path, None, None), dataclasses.replace(CONFIG, tier=tier))
    assert not isinstance(result, ErrorRecord), result
    return result


@pytest.mark.parametrize("name", sorted(mp4_media.KINDS))
def test_table_equals_ffmpeg_packets(folder, name):
    table, packets = mp4_table_and_packets(made(folder, name))
    assert_table_is_ffmpegs(table, packets)
    assert table.beyond_eof_count == 0 and table.corrupt_count == 0


def test_the_kinds_have_what_they_are_named_for(folder):
    """B-frames reorder, edit lists hide frames, the empty edit delays the first frame to 2 s."""
    table, _ = mp4_table_and_packets(made(folder, "h264_bf2_audio_moov_at_end"))
    assert (np.diff(table.pts) < 0).any()
    table, _ = mp4_table_and_packets(made(folder, "edit_starts_inside_media"))
    assert table.is_discard is not None and table.is_discard.sum() > 10
    table, _ = mp4_table_and_packets(made(folder, "edit_shorter_than_media"))
    assert table.dts.shape[0] < 90  # FFmpeg stops after the edit (and a trailing GOP's start)
    table, _ = mp4_table_and_packets(made(folder, "empty_edit_first_frame_at_2s"))
    assert int(table.pts.min()) == 2 * 15360
    table, _ = mp4_table_and_packets(made(folder, "fragmented_negative_cts"))
    assert (table.pts < table.dts).any() or table.pts.min() < table.dts.min() + 1024


@pytest.mark.parametrize("name", ["h264_bf2_audio_moov_at_end", "edit_starts_inside_media", "mov_video_starts_late",
                                  "fragmented_empty_moov", "fragmented_sidx", "hevc_hvc1_bframes"])
def test_frames_table_is_the_packet_tiers_row_for_row(folder, name):
    path = made(folder, name)
    by_index, by_packets = index(path), index(path, "packets")
    assert by_index.clip.frame_count_source == by_index.clip.duration_source == "index"
    assert by_packets.clip.frame_count_source == "packets"
    assert by_index.frames.equals(by_packets.frames)
    ignore = {"frame_count_source", "duration_source", "bytes_read", "index_wall_s"}
    for field in dataclasses.fields(by_index.clip):
        if field.name not in ignore:
            assert getattr(by_index.clip, field.name) == getattr(by_packets.clip, field.name), field.name


def test_several_edits_are_left_to_the_demuxer(folder):
    """Two edits make FFmpeg repeat a stretch of samples: the table is declined, with the reason."""
    with open(made(folder, "h264_bf2_audio_moov_at_end"), "rb") as handle:
        data = mp4_media.with_edits(handle.read(), [(1000, 1024), (1000, 1024 + 15360)])
    path = os.path.join(folder, "two_edits.mp4")
    with open(path, "wb") as handle:
        handle.write(data)
    table, _ = mp4_table_and_packets(path)
    assert table == "edit list with several edits"
    record = index(path).clip
    assert record.frame_count_source == "packets"
    assert "header tier not usable (edit list with several edits); used packets" in record.warnings


def test_a_rewritten_single_edit_is_followed(folder):
    """An edit that starts 0.5 s in and lasts 1 s: FFmpeg's rebuilt index, reproduced."""
    with open(made(folder, "h264_bf2_audio_moov_at_end"), "rb") as handle:
        data = mp4_media.with_edits(handle.read(), [(1000, 1024 + 7680)])
    path = os.path.join(folder, "one_edit.mp4")
    with open(path, "wb") as handle:
        handle.write(data)
    assert_table_is_ffmpegs(*mp4_table_and_packets(path))


# ---- fragmented files cut short ----------------------------------------------------

def _cut(source: str, target: str, keep: int) -> str:
    with open(source, "rb") as src, open(target, "wb") as dst:
        dst.write(src.read(keep))
    return target


def _last(path: str, box: bytes) -> tuple[int, int]:
    with open(path, "rb") as handle:
        return mp4_media.box_offsets(handle.read(), box)[-1]


@pytest.mark.parametrize("where", ["into the last mdat", "inside the last moof", "half way"])
def test_cut_fragmented_file_keeps_what_ffmpeg_reads(folder, tmp_path, where):
    source = made(folder, "fragmented_empty_moov")
    mdat, moof = _last(source, b"mdat"), _last(source, b"moof")
    keep = {"into the last mdat": mdat[0] + 100, "inside the last moof": (moof[0] + moof[1]) // 2,
            "half way": os.path.getsize(source) // 2}[where]
    path = _cut(source, str(tmp_path / "cut.mp4"), keep)
    table, packets = mp4_table_and_packets(path)
    assert_table_is_ffmpegs(table, packets)
    assert table.beyond_eof_count > 0
    record = index(path).clip
    assert record.truncated and record.frame_count_source == "index"
    assert record.frame_count == _ffprobe_packet_count(path)
    assert any(w.startswith("truncated:") for w in record.warnings), record.warnings


@needs_ffprobe
def test_cut_fragmented_file_declines_where_another_track_ends_the_demux(folder, tmp_path):
    """Fragments of 3 s (video, then audio): cut in the video data. Demuxing every stream,
    FFmpeg stops at the first lost audio sample, a second and more before the last kept video
    sample, so the table reader declines. The packets tier discards the other streams, as
    `ffprobe -select_streams v` does, and reads every video packet that exists: ffprobe's count."""
    source = str(tmp_path / "long_fragments.mp4")
    mp4_media.ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=30:duration=6", "-f", "lavfi", "-i",
                     "sine=duration=6", *mp4_media.BF2[:-2], "-g", "90", "-c:a", "aac", "-movflags",
                     mp4_media.FRAG, source)
    mdat = _last(source, b"mdat")
    path = _cut(source, str(tmp_path / "cut.mp4"), mdat[0] + (mdat[1] - mdat[0]) // 3)
    table, packets = mp4_table_and_packets(path)
    assert table == "a cut file whose other tracks end the demux first"
    record = index(path).clip
    assert record.frame_count_source == "packets"
    assert record.frame_count == oracle_ffprobe(path).packet_count > packets["pts"].shape[0]


def _ffprobe_packet_count(path: str) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_packets", "-of", "csv=p=0", path], capture_output=True, text=True,
                         check=True).stdout
    return int(out.strip())


# ---- through the CLI ----------------------------------------------------------------

E2E_KINDS = ("h264_bf2_audio_moov_at_end", "h264_negative_cts_audio", "edit_starts_inside_media",
             "empty_edit_first_frame_at_2s", "mov_timecode_track", "fragmented_empty_moov", "co64_chunk_offsets")


def _ffprobe_pts(path: str) -> list[int]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts",
                          "-of", "json", path], capture_output=True, text=True, check=True).stdout
    return sorted(int(packet["pts"]) for packet in json.loads(out)["packets"])


def test_cli_indexes_camera_shaped_mp4s_from_their_tables(folder, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in E2E_KINDS:
        source = made(folder, name)
        shutil.copy(source, clips / os.path.basename(source))
    result = run_cli("index", "--input", str(clips / "*"), "--output", str(tmp_path / "out"), "--hash", "none",
                     "--workers", "1")
    assert result.returncode == 0, result.stderr
    records = read_index_table(tmp_path / "out", "clips").to_pylist()
    frames = read_index_table(tmp_path / "out", "frames", columns=["clip_id", "frame_index", "pts"]).to_pylist()
    assert len(records) == len(E2E_KINDS)
    for record in records:
        assert record["frame_count_source"] == record["duration_source"] == "index", record["uri"]
        rows = sorted((f["frame_index"], f["pts"]) for f in frames if f["clip_id"] == record["clip_id"])
        ours = [pts for _, pts in rows]
        assert ours == _ffprobe_pts(record["uri"]), record["uri"]
        assert not record["truncated"], record["warnings"]


def test_fragmented_camera_clip_is_indexed_from_a_few_percent_of_its_bytes(tmp_path):
    """A 2-minute fragmented clip at a camera's bitrate (1-s fragments): FFmpeg's open reads each
    moof (a few 4 KiB buffer fills: the indexer picks that buffer for fragmented files) and the
    first fragment's data; clipindex reads nothing more (~2.5 %)."""
    segment = str(tmp_path / "segment.mp4")
    mp4_media.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30,noise=alls=12:allf=t", "-f", "lavfi",
                     "-i", "sine", "-t", "2", *mp4_media.BF2[:-2], "-g", "30", "-b:v", "2500k", "-c:a", "aac", segment)
    listing = tmp_path / "segments.txt"
    listing.write_text(f"file '{segment}'\n" * 60)
    path = str(tmp_path / "fragmented_camera.mp4")
    mp4_media.ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", mp4_media.FRAG,
                     path)
    record = index(path).clip
    assert record.frame_count_source == "index" and record.frame_count == 3600
    assert record.bytes_read < 0.05 * record.size_bytes, (record.bytes_read, record.size_bytes)
