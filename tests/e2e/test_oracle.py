"""ffprobe as the oracle: frame counts and durations on every container a fleet produces.

(The oracle itself, shared with tests/e2e/test_camera_corpus.py, is in tests/support/oracle.py.)

Each kind of clip is made at test time with the `ffmpeg` CLI (lavfi `testsrc`
and `sine`), or remuxed with PyAV where exact timestamps are needed, then
indexed in-process and compared with Debian's ffprobe (FFmpeg 5.1, a
different FFmpeg from the 8.1 inside PyAV):

* frame_count == `ffprobe -count_packets ... stream=nb_read_packets`;
* duration_s within one frame interval of ffprobe's packet span,
  max(pts + duration) - min(pts), over the packets ffprobe does not flag
  "D" (discard). Only edit-listed clips have such packets: FFmpeg demuxes the
  samples an edit list hides (so they are counted), but they are not on the
  timeline, and our duration leaves them out too.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import struct
from fractions import Fraction
from typing import Callable, Optional

import av
import pytest

from schemas import ErrorRecord, FileInfo
from tests.support.runs import needs_ffprobe
from tests.support.oracle import CONFIG, assert_frames_table, ffmpeg, ffprobe, has_encoder, index
from transforms.clip.index_clip import index_file
from tests.support.oracle import assert_table_is_ffmpegs, mp4_table_and_packets

pytestmark = needs_ffprobe

SECONDS = 2
FPS = 30
VIDEO = ["-f", "lavfi", "-i", f"testsrc=size=160x120:rate={FPS}:duration={SECONDS}"]
AUDIO = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast"]
X264_BFRAMES = ["-c:v", "libx264", "-preset", "veryfast", "-bf", "3"]


def retime(source: str, target: str, pts_of: Callable[[int], int],
           time_base: Fraction = Fraction(1, 90000)) -> None:
    """Remux the video packets of an intra-ordered clip with new timestamps (PyAV)."""
    with av.open(source) as inp, av.open(target, "w") as out:
        video_in = inp.streams.video[0]
        video_out = out.add_stream_from_template(video_in)
        video_out.time_base = time_base
        packets = (p for p in inp.demux(video_in) if p.size)  # skip the flush packet
        for number, packet in enumerate(packets):
            packet.pts = packet.dts = pts_of(number)
            packet.duration = pts_of(number + 1) - pts_of(number)
            packet.time_base = time_base
            packet.stream = video_out
            out.mux(packet)


def _plain_mp4(out: str) -> None:
    ffmpeg(*VIDEO, *X264, "-bf", "0", out)


# ---- the kinds ------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Kind:
    name: str
    build: Callable[[str, str], None]   # (work_dir, output path)
    ext: str
    tier: str                           # frame_count_source expected in auto mode
    has_audio: bool = False
    gaps: int = 0
    vfr: bool = False
    hidden_frames: bool = False         # an edit list hides some stored frames
    encoder: Optional[str] = None       # skip cleanly when Debian's ffmpeg lacks it


def _ff(*args: str) -> Callable[[str, str], None]:
    return lambda _work, out: ffmpeg(*args, out)


def _edit_list(bframes: bool) -> Callable[[str, str], None]:
    def build(work: str, out: str) -> None:
        source = os.path.join(work, f"edit-source-{bframes}.mp4")
        ffmpeg(*VIDEO, *(X264_BFRAMES if bframes else [*X264, "-bf", "0"]), source)
        # Stream copy from 0.8 s: the GOP starts at 0, so every sample is kept
        # and the mov muxer writes an edit list that hides the first 0.8 s.
        ffmpeg("-ss", "0.8", "-i", source, "-c", "copy", out)
    return build


def _retimed(pts_of: Callable[[int], int]) -> Callable[[str, str], None]:
    def build(work: str, out: str) -> None:
        source = os.path.join(work, f"retime-source-{os.path.basename(out)}.mp4")
        _plain_mp4(source)
        retime(source, out, pts_of)
    return build


def _vfr_pts(n: int) -> int:
    return n * 3000 + (720 if n % 2 else 0)   # steps alternate 25.3 / 41.3 ms at 1/90000


def _two_second_hole_pts(n: int) -> int:
    return n * 3000 + (180000 if n >= FPS else 0)   # frames after 1 s start 2 s later


HOLE_AFTER_1S = "setpts='if(gte(N,30),PTS+2/TB,PTS)'"

KINDS = [
    Kind("mp4_h264_faststart_audio", _ff(*VIDEO, *AUDIO, *X264, "-bf", "0", "-c:a", "aac",
                                         "-movflags", "+faststart"), "mp4", "index", has_audio=True),
    Kind("mp4_h264_moov_at_end", _ff(*VIDEO, *X264, "-bf", "0"), "mp4", "index"),
    Kind("mp4_h264_bframes_audio", _ff(*VIDEO, *AUDIO, *X264_BFRAMES, "-c:a", "aac"), "mp4", "index",
         has_audio=True),
    Kind("mov_h264_faststart", _ff(*VIDEO, *X264, "-bf", "0", "-movflags", "+faststart"), "mov", "index"),
    Kind("mov_h264_moov_at_end_audio", _ff(*VIDEO, *AUDIO, *X264, "-bf", "0", "-c:a", "aac"), "mov",
         "index", has_audio=True),
    Kind("mp4_fragmented_audio", _ff(*VIDEO, *AUDIO, *X264_BFRAMES, "-g", "15", "-c:a", "aac", "-movflags",
                                     "frag_keyframe+empty_moov+default_base_moof"), "mp4", "index",
         has_audio=True),
    Kind("mkv_h264_bframes_audio", _ff(*VIDEO, *AUDIO, *X264_BFRAMES, "-c:a", "aac"), "mkv", "packets",
         has_audio=True),
    Kind("mkv_mjpeg", _ff(*VIDEO, "-c:v", "mjpeg"), "mkv", "packets"),
    Kind("mov_mjpeg_audio", _ff(*VIDEO, *AUDIO, "-c:v", "mjpeg", "-c:a", "pcm_s16le"), "mov", "index",
         has_audio=True),
    Kind("webm_vp8_audio", _ff(*VIDEO, *AUDIO, "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8",
                               "-b:v", "200k", "-c:a", "libvorbis"), "webm", "packets", has_audio=True,
         encoder="libvpx"),
    Kind("webm_vp9", _ff(*VIDEO, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                         "-b:v", "200k"), "webm", "packets", encoder="libvpx-vp9"),
    Kind("avi_mjpeg_audio", _ff(*VIDEO, *AUDIO, "-c:v", "mjpeg", "-c:a", "pcm_s16le"), "avi", "index",
         has_audio=True),
    Kind("avi_mpeg4_bframes_audio", _ff(*VIDEO, *AUDIO, "-c:v", "mpeg4", "-bf", "2", "-c:a", "mp2"),
         "avi", "packets", has_audio=True),
    Kind("mp4_mpeg4", _ff(*VIDEO, "-c:v", "mpeg4"), "mp4", "index"),
    # FFmpeg's MPEG-2 parser may split or join samples: the table is not taken.
    Kind("mov_mpeg2video_bframes", _ff(*VIDEO, "-c:v", "mpeg2video", "-bf", "2"), "mov", "packets"),
    Kind("mp4_mpeg4_bframes", _ff(*VIDEO, "-c:v", "mpeg4", "-bf", "2"), "mp4", "index"),
    Kind("ts_h264_bframes_audio", _ff(*VIDEO, *AUDIO, *X264_BFRAMES, "-c:a", "aac"), "ts", "packets",
         has_audio=True),
    Kind("mp4_hevc", _ff(*VIDEO, "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none",
                         "-tag:v", "hvc1"), "mp4", "index", encoder="libx265"),
    Kind("mkv_hevc", _ff(*VIDEO, "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none"),
         "mkv", "packets", encoder="libx265"),
    Kind("mp4_ntsc_30000_1001", _ff("-f", "lavfi", "-i", f"testsrc=size=160x120:rate=30000/1001:duration={SECONDS}",
                                    *X264, "-bf", "0"), "mp4", "index"),
    Kind("mkv_ntsc_30000_1001", _ff("-f", "lavfi", "-i", f"testsrc=size=160x120:rate=30000/1001:duration={SECONDS}",
                                    *X264_BFRAMES), "mkv", "packets"),
    Kind("mp4_edit_list_bframes", _edit_list(bframes=True), "mp4", "index", hidden_frames=True),
    Kind("mp4_edit_list", _edit_list(bframes=False), "mp4", "index", hidden_frames=True),
    Kind("mp4_rotated_90", lambda work, out: (_plain_mp4(os.path.join(work, "unrotated.mp4")), ffmpeg(
        "-i", os.path.join(work, "unrotated.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", out)),
         "mp4", "index"),
    Kind("mp4_vfr", _retimed(_vfr_pts), "mp4", "index", vfr=True),
    Kind("mkv_vfr", _retimed(_vfr_pts), "mkv", "packets", vfr=True),
    Kind("mp4_two_second_hole", _retimed(_two_second_hole_pts), "mp4", "index", gaps=1),
    Kind("mkv_two_second_hole", _ff(*VIDEO, *X264_BFRAMES, "-vf", HOLE_AFTER_1S, "-fps_mode", "passthrough"),
         "mkv", "packets", gaps=1),
    # AVI is constant-rate: the muxer fills the hole with empty "drop" chunks,
    # which the header counts as frames but nobody demuxes.
    Kind("avi_two_second_hole", _ff(*VIDEO, "-c:v", "mjpeg", "-vf", HOLE_AFTER_1S), "avi", "packets", gaps=1),
]
KIND_BY_NAME = {kind.name: kind for kind in KINDS}


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("oracle"))


@functools.lru_cache(maxsize=None)
def _built(clip_dir: str, name: str) -> str:
    kind = KIND_BY_NAME[name]
    path = os.path.join(clip_dir, f"{name}.{kind.ext}")
    kind.build(clip_dir, path)
    return path


def clip_for(clip_dir: str, name: str) -> str:
    kind = KIND_BY_NAME[name]
    if kind.encoder and not has_encoder(kind.encoder):
        pytest.skip(f"Debian's ffmpeg has no {kind.encoder} encoder")
    return _built(clip_dir, name)


# ---- the oracle -----------------------------------------------------------------

@pytest.mark.parametrize("name", [kind.name for kind in KINDS])
def test_agrees_with_ffprobe(clip_dir, name):
    kind = KIND_BY_NAME[name]
    path = clip_for(clip_dir, name)
    record, frames = index(path)
    probe = ffprobe(path)
    interval_s = 1 / record.fps

    assert record.frame_count == probe.packet_count
    assert abs(record.duration_s - probe.span_s) <= interval_s, (record.duration_s, probe.span_s)
    assert record.frame_count_source == record.duration_source == kind.tier
    assert record.keyframe_count == probe.keyframe_count
    assert Fraction(record.time_base_num, record.time_base_den) == probe.time_base
    assert record.rotation_deg == probe.rotation_deg
    assert record.has_audio == kind.has_audio
    assert not record.truncated, record.warnings
    assert (probe.discard_count > 0) == kind.hidden_frames
    assert_frames_table(record, frames)


@pytest.mark.parametrize("name", [kind.name for kind in KINDS])
def test_continuity(clip_dir, name):
    kind = KIND_BY_NAME[name]
    record, _ = index(clip_for(clip_dir, name))
    assert record.gap_count == kind.gaps
    if kind.gaps:
        assert abs(record.max_gap_s - 2.0) <= 1 / FPS, record.max_gap_s
        assert abs(record.gap_total_s - 2.0) <= 1 / FPS
    assert record.vfr == kind.vfr
    assert record.nonmonotonic_dts_count == 0 and record.corrupt_packet_count == 0
    if kind.has_audio:
        assert abs(record.av_skew_s) < 0.2   # audio and video both last ~2 s
    else:
        assert record.av_skew_s is None
    hidden = [w for w in record.warnings if w.startswith("edit list hides")]
    assert bool(hidden) == kind.hidden_frames, record.warnings


INDEX_KINDS = [kind.name for kind in KINDS if kind.tier == "index"]


@pytest.mark.parametrize("name", INDEX_KINDS)
def test_index_tier_equals_packet_tier(clip_dir, name):
    """Where the index tier is used, demuxing every packet gives the same frames table."""
    path = clip_for(clip_dir, name)
    by_index, index_frames = index(path)
    by_packets, packet_frames = index(path, dataclasses.replace(CONFIG, tier="packets"))
    assert by_packets.frame_count_source == "packets"
    assert by_index.frame_count == by_packets.frame_count
    assert by_index.duration_s == pytest.approx(by_packets.duration_s, abs=1e-9)
    assert index_frames.equals(packet_frames)  # row for row, every column
    # The index tier never demuxes: beyond FFmpeg's own open it reads the moov a second time
    # (these clips are so small that this can exceed demuxing all of them).
    assert by_index.bytes_read < by_packets.bytes_read + _moov_bytes(path)


@pytest.mark.parametrize("name", ["mov_mpeg2video_bframes", "ts_h264_bframes_audio", "mkv_h264_bframes_audio"])
def test_forced_header_tier_falls_back_and_says_why(clip_dir, name):
    record, _ = index(clip_for(clip_dir, name), dataclasses.replace(CONFIG, tier="header"))
    assert record.frame_count_source == "packets"
    assert any(w.startswith("header tier not usable") for w in record.warnings), record.warnings


def test_auto_tier_says_why_an_mp4_is_demuxed(clip_dir):
    """An MP4 whose table is declined is demuxed in auto mode too, with the reason."""
    record, _ = index(clip_for(clip_dir, "mov_mpeg2video_bframes"))
    assert record.frame_count_source == "packets"
    assert "header tier not usable (codec mpeg2video not checked against FFmpeg's packets); used packets" \
        in record.warnings, record.warnings


# ---- the moov sample table read with numpy ---------------------------------------

MP4_KINDS = [kind.name for kind in KINDS if kind.ext in ("mp4", "mov")]
# The tables must be taken (else the header tier quietly slows down): plain ones, B-frames
# with composition offsets, edit lists, fragments.
TAKEN = {kind.name for kind in KINDS if kind.ext in ("mp4", "mov") and kind.tier == "index"}


def _moov_bytes(path: str) -> int:
    from transforms.clip.mp4.boxes import read_moov

    with open(path, "rb") as handle:
        moov = read_moov(handle)
    return len(moov) if moov else 0




@pytest.mark.parametrize("name", MP4_KINDS)
def test_moov_table_equals_ffmpeg_packets(clip_dir, name):
    """Where transforms.clip.mp4.header_tier takes a track, it is FFmpeg's demuxed packets, field for field."""
    table, packets = mp4_table_and_packets(clip_for(clip_dir, name))
    if name in TAKEN or not isinstance(table, str):
        assert_table_is_ffmpegs(table, packets)


def test_moov_sample_table_on_synth_footage(tmp_path):
    """The benchmark corpus (clipindex synth: remuxed one-GOP segments) takes the fast path."""
    from pipeline.synth import synth

    synth(str(tmp_path), clips=3, hours=3 / 60, fps=30, seed=4)
    paths = sorted(os.path.join(d, f) for d, _, files in os.walk(tmp_path / "clips") for f in files)
    for path in paths:
        assert_table_is_ffmpegs(*mp4_table_and_packets(path))


# ---- truncation -----------------------------------------------------------------

def _moov_range(path: str) -> tuple[int, int]:
    with open(path, "rb") as handle:
        data = handle.read()
    offset = 0
    while offset + 8 <= len(data):
        size, box = struct.unpack(">I4s", data[offset:offset + 8])
        if box == b"moov":
            return offset, offset + size
        offset += size
    raise AssertionError("no moov box")


def _cut(source: str, target: str, keep_bytes: int) -> str:
    with open(source, "rb") as src, open(target, "wb") as dst:
        dst.write(src.read(keep_bytes))
    return target


@pytest.mark.parametrize("name,claims", [
    ("mp4_h264_faststart_audio", "header claims 60 frames / 2.0"),
    ("mkv_h264_bframes_audio", "header claims 2.0"),
    ("avi_mjpeg_audio", "header claims 60 frames"),
])
def test_cut_to_60_percent_keeps_what_remains(clip_dir, tmp_path, name, claims):
    source = clip_for(clip_dir, name)
    path = _cut(source, str(tmp_path / os.path.basename(source)), int(os.path.getsize(source) * 0.6))
    record, frames = index(path)
    probe = ffprobe(path)
    assert record.truncated
    assert record.frame_count == probe.packet_count < 60
    assert abs(record.duration_s - probe.span_s) <= 1 / FPS
    assert record.frame_count_source == "packets"
    assert any(w.startswith("truncated:") and claims in w for w in record.warnings), record.warnings
    assert_frames_table(record, frames)


@pytest.mark.parametrize("name,where", [
    ("mp4_h264_moov_at_end", "mdat"),            # moov-at-end cut early: no moov at all
    ("mp4_h264_faststart_audio", "inside moov"),
])
def test_cut_before_moov_is_corrupt(clip_dir, tmp_path, name, where):
    source = clip_for(clip_dir, name)
    start, end = _moov_range(source)
    keep = int(os.path.getsize(source) * 0.6) if where == "mdat" else (start + end) // 2
    assert keep < end
    result = index_file(FileInfo(_cut(source, str(tmp_path / "cut.mp4"), keep), None, None), CONFIG)
    assert isinstance(result, ErrorRecord)
    assert result.error_kind == "corrupt", result


# ---- bytes read by the header tier ------------------------------------------------

def test_header_tier_reads_under_5_percent_of_a_one_minute_clip(tmp_path):
    from pipeline.synth import synth

    synth(str(tmp_path), clips=1, hours=1 / 60, fps=30, seed=1)
    (path,) = [os.path.join(d, f) for d, _, files in os.walk(tmp_path / "clips") for f in files]
    record, _ = index(path, dataclasses.replace(CONFIG, tier="header"))
    assert record.frame_count_source == "index" and record.frame_count == 1800
    assert record.bytes_read < 0.05 * record.size_bytes, (record.bytes_read, record.size_bytes)


def test_ffmpeg_cli_present():
    assert shutil.which("ffmpeg"), "the oracle tests need Debian's ffmpeg to make clips"
