"""Which stream is the video, and which dates are believed (real files made with ffmpeg).

One rule (transforms/clip/stream_choice.py) serves probe, the timeline, rotation
and visual QA: cover art (disposition attached_pic) is never the video, and
of several real video streams the default one is indexed, else the first.
A `creation_time` before 1980 is a camera clock that was never set: the clip
gets a null `recorded_at` and a warning naming the tag.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import av
import pytest

from schemas import ErrorRecord, FileInfo
from tests.support.camera_media import add_cover_art, make_two_angle_clip, set_mp4_times
from tests.support.runs import needs_ffprobe
from tests.support.oracle import CONFIG, assert_frames_table, ffmpeg, ffprobe, index
from transforms.clip.index_clip import index_file
from transforms.clip.stream_choice import choose_video_stream, real_video_streams

pytestmark = needs_ffprobe
MP4_EPOCH_OFFSET_S = 2082844800  # seconds from 1904-01-01 (MP4's epoch) to 1970-01-01


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("streams")

    def path(name: str) -> str:
        return str(folder / name)

    plain = path("plain.mp4")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=2", "-f", "lavfi", "-i",
           "sine=duration=2", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-c:a", "aac",
           "-metadata", "creation_time=2026-03-01T08:00:00Z", plain)
    return {"plain": plain, "path": path}


def test_cover_art_is_not_the_video(media):
    path = add_cover_art(media["plain"], media["path"]("cover.mp4"))
    with av.open(path) as container:
        assert len(container.streams.video) == 2  # FFmpeg lists the picture as a video stream
        assert [s.codec_context.name for s in real_video_streams(container)] == ["h264"]
    record, frames = index(path)
    assert record.video_codec == "h264" and record.video_stream_count == 1
    assert record.frame_count == ffprobe(path, "v:0").packet_count == 60
    assert_frames_table(record, frames)


def test_cover_art_alone_is_no_video_stream(media):
    path = add_cover_art(media["plain"], media["path"]("song.m4a"), keep_video=False)
    result = index_file(FileInfo(path, None, None), CONFIG)
    assert isinstance(result, ErrorRecord)
    assert result.error_kind == "no_video_stream"
    assert "cover art" in result.message


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_the_default_of_two_video_streams(media, ext):
    path = make_two_angle_clip(media["path"](f"two-default-second.{ext}"), default=1)
    record, frames = index(path)
    probe = ffprobe(path, "v:1")
    assert (record.width, record.height, record.video_stream_count) == (96, 64, 2)
    assert record.frame_count == probe.packet_count == 45
    assert frames.column("pts").to_pylist() == list(probe.pts)
    assert record.keyframe_count == probe.keyframe_count
    assert record.rotation_deg == probe.rotation_deg == (90 if ext == "mp4" else 0)


def test_first_real_stream_when_none_is_default(media):
    path = make_two_angle_clip(media["path"]("two-no-default.mkv"), default=None)
    with av.open(path) as container:
        assert choose_video_stream(container).index == 0
    record, _ = index(path)
    assert (record.width, record.video_stream_count) == (160, 2)
    assert record.frame_count == ffprobe(path, "v:0").packet_count == 60


def test_visual_qa_decodes_the_chosen_stream(media):
    path = make_two_angle_clip(media["path"]("two-qa.mkv"), default=1)
    record, _ = index(path, dataclasses.replace(CONFIG, decode="keyframes"))
    # The second angle has 45 frames, a keyframe every 10: 5; the first would give 6.
    assert record.qa_sampled_frames == record.keyframe_count == ffprobe(path, "v:1").keyframe_count == 5


# ---- camera clocks that were never set --------------------------------------------

@pytest.mark.parametrize("stamp", ["1970-01-01T00:00:00Z", "1904-01-01T00:00:00Z", "1979-12-31T23:59:59Z"])
def test_placeholder_creation_time_is_not_believed(media, stamp):
    path = media["path"](f"clock-{stamp[:4]}.mkv")
    ffmpeg("-i", media["plain"], "-c", "copy", "-metadata", f"creation_time={stamp}", path)
    record, _ = index(path)
    assert record.recorded_at is None
    (warning,) = [w for w in record.warnings if "placeholder" in w]
    assert f"creation_time={stamp[:19]}" in warning, warning


def test_mp4_clock_reset_to_1970(media):
    """A camera whose clock restarted at zero: mvhd says 100 s after 1970-01-01 (MP4 time)."""
    path = set_mp4_times(media["plain"], media["path"]("clock-reset.mp4"), MP4_EPOCH_OFFSET_S + 100)
    record, _ = index(path)
    assert record.recorded_at is None
    assert any("creation_time=1970-01-01T00:01:40" in w and "placeholder" in w for w in record.warnings)


def test_real_dates_are_kept(media):
    record, _ = index(media["plain"])
    assert record.recorded_at == dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)
    assert not any("placeholder" in w for w in record.warnings)
    path = media["path"]("clock-1980.mkv")
    ffmpeg("-i", media["plain"], "-c", "copy", "-metadata", "creation_time=1980-01-01T00:00:00Z", path)
    assert index(path)[0].recorded_at == dt.datetime(1980, 1, 1, tzinfo=dt.timezone.utc)
