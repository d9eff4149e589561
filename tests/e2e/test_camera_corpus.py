"""Footage as cameras write it, checked against ffprobe frame by frame.

The clips come from tests/support/camera_media.py (recipes in bench/corpus/camera.py,
made with the ffmpeg CLI at test time): B-frames with the moov at the end,
negative composition offsets, a 30 s pre-event buffer without sound, a 90 kHz
IP-only clip with timecode and subtitle tracks, an empty edit, fragments,
HEVC `hvc1`, dropped frames, MPEG-2 in MPEG-PS, a file past 4 GiB (`co64`,
64-bit `mdat`). For each: the frame count, every frame's pts, the start and
the duration are ffprobe's, the gaps are where the recipe put them, and
nothing is called truncated. Which tier reads each clip is checked apart
(`test_frame_count_source`), because part of it waits on another branch.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional

import numpy as np
import pytest

from bench.corpus.camera import make_large_clip
from tests.support.camera_media import (
    CASE_BY_NAME,
    CASES,
    CameraCase,
    box_types,
    build,
    free_bytes,
    rewrite_as_co64,
)
from tests.support.runs import needs_ffprobe
from tests.support.oracle import CONFIG, assert_frames_table, ffprobe, has_encoder, index

pytestmark = needs_ffprobe
LARGE_FILE_BYTES = (4 << 30) + (64 << 20)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("camera"))


def clip_of(corpus_dir: str, case: CameraCase) -> str:
    if not has_encoder(case.encoder):
        pytest.skip(f"Debian's ffmpeg has no {case.encoder} encoder")
    return build(case, corpus_dir)


def assert_agrees_with_ffprobe(path: str, record, frames, gaps: int, start_s: Optional[float] = None) -> None:
    probe = ffprobe(path)
    interval_s = 1 / record.fps
    assert record.frame_count == probe.packet_count
    np.testing.assert_array_equal(np.asarray(frames.column("pts")), np.array(probe.pts, np.int64))
    assert abs(record.start_s - probe.start_s) < 1e-6, (record.start_s, probe.start_s)
    assert start_s is None or abs(record.start_s - start_s) < 1e-6, record.start_s
    assert abs(record.duration_s - probe.span_s) <= interval_s, (record.duration_s, probe.span_s)
    assert record.gap_count == gaps, record.warnings
    assert not record.truncated, record.warnings
    assert_frames_table(record, frames)


@pytest.mark.parametrize("name", [case.name for case in CASES])
def test_agrees_with_ffprobe(corpus_dir, name):
    case = CASE_BY_NAME[name]
    path = clip_of(corpus_dir, case)
    record, frames = index(path)
    assert_agrees_with_ffprobe(path, record, frames, case.gaps, case.start_s)
    assert record.has_audio == case.has_audio
    assert record.video_stream_count == 1
    if case.keeps_creation_time:
        assert record.recorded_at is not None and record.recorded_at.year == 2026


@pytest.mark.parametrize("name", [case.name for case in CASES if case.expected_source == "index"])
def test_packets_tier_agrees_too(corpus_dir, name):
    """Forced to demux, the same clips give the same frames (the fallback is exact as well)."""
    case = CASE_BY_NAME[name]
    path = clip_of(corpus_dir, case)
    record, frames = index(path, dataclasses.replace(CONFIG, tier="packets"))
    assert record.frame_count_source == "packets"
    assert_agrees_with_ffprobe(path, record, frames, case.gaps, case.start_s)


@pytest.mark.parametrize("name", [case.name for case in CASES])
def test_frame_count_source(corpus_dir, name):
    """Complete MP4/MOV (B-frames included) and fragmented MP4 come from the index; PS from packets."""
    case = CASE_BY_NAME[name]
    record, _ = index(clip_of(corpus_dir, case))
    assert record.frame_count_source == record.duration_source == case.expected_source


# ---- the recipes make what they claim ----------------------------------------------

def test_recipes_are_camera_shaped(corpus_dir):
    import av

    def streams(name: str):
        with av.open(clip_of(corpus_dir, CASE_BY_NAME[name])) as container:
            return [(s.type, s.codec_context.name if s.codec_context else None, s.time_base,
                     s.start_time and float(s.start_time * s.time_base)) for s in container.streams]

    video, audio = streams("pre_event_buffer")[:2]
    assert audio[0] == "audio" and audio[3] > 29.9, audio  # sound starts 30 s in
    kinds = streams("ip_90khz_tmcd_subs")
    assert kinds[0][2].denominator == 90000
    assert {k[0] for k in kinds} == {"video", "audio", "subtitle", "data"}, kinds  # data = tmcd
    assert ffprobe(clip_of(corpus_dir, CASE_BY_NAME["empty_edit_2s"])).start_s == 2.0
    assert b"moof" in box_types(clip_of(corpus_dir, CASE_BY_NAME["fragmented"]))
    assert b"ctts" in box_types(clip_of(corpus_dir, CASE_BY_NAME["negative_cts"]))
    tops = box_types(clip_of(corpus_dir, CASE_BY_NAME["bodycam_moov_at_end"]))
    assert b"elst" in tops and b"ctts" in tops


# ---- files past 4 GiB: co64 and a 64-bit mdat -----------------------------------------

def test_co64_and_64_bit_mdat_small(corpus_dir, tmp_path):
    """The co64 path without writing 4 GiB: an ordinary clip rewritten as a big one is laid out."""
    source = clip_of(corpus_dir, CASE_BY_NAME["ip_90khz_tmcd_subs"])
    path = rewrite_as_co64(source, str(tmp_path / "co64.mov"))
    assert {b"co64", b"mdat64"} <= box_types(path) and b"stco" not in box_types(path)
    record, frames = index(path)
    assert_agrees_with_ffprobe(path, record, frames, gaps=0)
    assert record.frame_count_source == "index"
    original, original_frames = index(source)
    assert original.frame_count == record.frame_count
    assert original_frames.column("pos").equals(frames.column("pos"))


@pytest.fixture(scope="session")
def large_clip(tmp_path_factory):
    """One file past 4 GiB for the whole session, deleted afterwards (~17-25 s to write)."""
    folder = tmp_path_factory.mktemp("over_4gib")
    if free_bytes(str(folder)) < 3 * LARGE_FILE_BYTES:
        pytest.skip("less than 13 GB free disk for the 4 GiB clip")
    started = time.monotonic()
    path = make_large_clip(str(folder / "over_4gib.mp4"), LARGE_FILE_BYTES)
    print(f"\nmade a {os.path.getsize(path) / 2**30:.2f} GiB clip in {time.monotonic() - started:.1f} s")
    yield path
    os.remove(path)


def test_over_4_gib(large_clip):
    assert os.path.getsize(large_clip) > 4 << 30
    assert {b"co64", b"mdat64"} <= box_types(large_clip)
    record, frames = index(large_clip)
    assert_agrees_with_ffprobe(large_clip, record, frames, gaps=0)
    assert record.frame_count_source == "index"
    assert record.bytes_read < 0.001 * record.size_bytes  # the moov and a packet or two, not 4 GiB
    assert np.asarray(frames.column("pos")).max() > 4 << 30
