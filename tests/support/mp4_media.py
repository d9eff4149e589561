"""MP4/MOV clips for the sample-table tests, made at test time, and small box rewrites.

Every clip comes from the ffmpeg CLI (lavfi sources, a few seconds, 160x120):
B-frames, composition offsets, edit lists of every shape the mov muxer writes,
timecode and subtitle tracks, HEVC, and fragmented files. The rewrites
(`stco_to_co64`, `with_edits`) rebuild the moov of a moov-at-end file, where
chunk offsets do not move when the moov grows.
"""

from __future__ import annotations

import functools
import os
import struct
from typing import Callable, Optional

from tests.support.oracle import ffmpeg, has_encoder

SECONDS = 3
VIDEO = ["-f", "lavfi", "-i", f"testsrc=size=160x120:rate=30:duration={SECONDS}"]
AUDIO = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}"]
NTSC = ["-f", "lavfi", "-i", f"testsrc=size=160x120:rate=30000/1001:duration={SECONDS}"]
# b-adapt=0: x264 places B-frames even in a test pattern (its adaptive choice would skip them).
BF2 = ["-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "30", "-x264-params", "b-adapt=0"]
BF3 = ["-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "30", "-x264-params", "b-adapt=0"]
AAC = ["-c:a", "aac"]
FRAG = "+frag_keyframe+empty_moov+default_base_moof"
_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts")


def _rewritten(source: str, rewrite: Callable[[bytes], bytes]) -> Callable[[str, str], None]:
    def build(folder: str, out: str) -> None:
        with open(clip(folder, source), "rb") as handle:
            data = rewrite(handle.read())
        with open(out, "wb") as handle:
            handle.write(data)
    return build


def _plain(*args: str) -> Callable[[str, str], None]:
    return lambda _folder, out: ffmpeg(*args, out)


def _copy_from(source: str, before: tuple[str, ...], after: tuple[str, ...] = ()) -> Callable[[str, str], None]:
    return lambda folder, out: ffmpeg(*before, "-i", clip(folder, source), "-c", "copy", *after, out)


KINDS: dict[str, tuple[str, Callable[[str, str], None]]] = {
    "h264_bf2_audio_moov_at_end": ("mp4", _plain(*VIDEO, *AUDIO, *BF2, *AAC)),
    "h264_bf3_faststart": ("mp4", _plain(*VIDEO, *BF3, "-movflags", "+faststart")),
    "h264_negative_cts_audio": ("mp4", _plain(*VIDEO, *AUDIO, *BF3, *AAC, "-movflags", "+negative_cts_offsets")),
    "edit_starts_inside_media": ("mp4", _copy_from("h264_bf2_audio_moov_at_end", ("-ss", "0.8"))),
    "edit_shorter_than_media": ("mp4", _copy_from("h264_bf2_audio_moov_at_end", ("-ss", "0.5", "-t", "1.2"))),
    "edit_with_negative_cts": ("mp4", _copy_from("h264_negative_cts_audio", ("-ss", "0.8"),
                                                 ("-movflags", "+negative_cts_offsets"))),
    "empty_edit_first_frame_at_2s": ("mp4", _plain(*VIDEO, *AUDIO, *BF2, *AAC, "-output_ts_offset", "2")),
    "mov_video_starts_late": ("mov", lambda folder, out: ffmpeg(
        "-itsoffset", "0.7", "-i", clip(folder, "h264_bf2_audio_moov_at_end"), "-i",
        clip(folder, "h264_bf2_audio_moov_at_end"), "-map", "0:v", "-map", "1:a", "-c", "copy", out)),
    "mov_timecode_track": ("mov", _plain(*VIDEO, *AUDIO, *BF2, *AAC, "-timecode", "01:00:00:00")),
    "mp4_subtitle_track": ("mp4", lambda folder, out: ffmpeg(
        *VIDEO, *AUDIO, "-i", _subtitles(folder), "-map", "0", "-map", "1", "-map", "2", *BF2, *AAC,
        "-c:s", "mov_text", out)),
    "hevc_hvc1_bframes": ("mp4", _plain(*VIDEO, "-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                                        "log-level=none:bframes=3:b-adapt=0", "-tag:v", "hvc1")),
    "mov_ntsc_90khz": ("mov", _plain(*NTSC, *BF2, "-video_track_timescale", "90000")),
    "co64_chunk_offsets": ("mp4", _rewritten("h264_bf2_audio_moov_at_end", lambda d: stco_to_co64(d))),
    "fragmented_empty_moov": ("mp4", _plain(*VIDEO, *AUDIO, *BF2, *AAC, "-movflags", FRAG)),
    "fragmented_moov_samples": ("mp4", _plain(*VIDEO, *AUDIO, *BF2, *AAC, "-movflags", "+frag_keyframe")),
    "fragmented_negative_cts": ("mp4", _plain(*VIDEO, *AUDIO, *BF2, *AAC, "-movflags",
                                              FRAG + "+negative_cts_offsets")),
    "fragmented_small_fragments": ("mp4", _plain(*VIDEO, *AUDIO, *BF2, *AAC, "-movflags",
                                                 "+empty_moov+default_base_moof", "-frag_duration", "250000")),
    "fragmented_sidx": ("mp4", _plain(*VIDEO, *AUDIO, *BF2, *AAC, "-movflags", FRAG + "+global_sidx")),
    "fragmented_ismv_mfra": ("ismv", _plain(*VIDEO, *AUDIO, *BF2, *AAC)),
    "fragmented_mov": ("mov", _plain(*VIDEO, *AUDIO, *BF2, *AAC, "-movflags", FRAG)),
}
ENCODERS = {"hevc_hvc1_bframes": "libx265"}


def _subtitles(folder: str) -> str:
    path = os.path.join(folder, "cues.srt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("1\n00:00:00,500 --> 00:00:01,500\nhello\n\n2\n00:00:02,000 --> 00:00:02,500\nbye\n")
    return path


@functools.lru_cache(maxsize=None)
def clip(folder: str, name: str) -> str:
    ext, build = KINDS[name]
    path = os.path.join(folder, f"{name}.{ext}")
    build(folder, path)
    return path


# ---- moov rewrites ----------------------------------------------------------------

def _parse(data: bytes, start: int, end: int) -> list:
    items, offset = [], start
    while offset + 8 <= end:
        size, box_type = struct.unpack_from(">I4s", data, offset)
        body = data[offset + 8:offset + size]
        items.append((box_type, _parse(data, offset + 8, offset + size) if box_type in _CONTAINERS else body))
        offset += size
    return items


def _serialize(items: list) -> bytes:
    out = b""
    for box_type, body in items:
        payload = _serialize(body) if isinstance(body, list) else body
        out += struct.pack(">I4s", 8 + len(payload), box_type) + payload
    return out


def _rewrite_moov(data: bytes, change: Callable[[list], None]) -> bytes:
    """Apply `change` to the parsed moov of a moov-at-end file (the moov must be last)."""
    offset = 0
    while offset + 8 <= len(data):
        size, box_type = struct.unpack_from(">I4s", data, offset)
        if box_type == b"moov":
            assert offset + size == len(data), "the moov must be the last box"
            tree = _parse(data, offset + 8, offset + size)
            change(tree)
            return data[:offset] + _serialize([(b"moov", tree)])
        offset += size
    raise AssertionError("no moov")


def _walk(items: list, visit: Callable[[list, int], None]) -> None:
    for number in range(len(items)):
        visit(items, number)
        body = items[number][1]  # after the visit, which may have replaced the box
        if isinstance(body, list):
            _walk(body, visit)


def stco_to_co64(data: bytes) -> bytes:
    """Every stco (32-bit chunk offsets) as a co64 (64-bit) with the same offsets."""
    def visit(items: list, number: int) -> None:
        box_type, body = items[number]
        if box_type == b"stco":
            count = struct.unpack_from(">I", body, 4)[0]
            offsets = struct.unpack_from(f">{count}I", body, 8)
            items[number] = (b"co64", body[:8] + struct.pack(f">{count}Q", *offsets))
    return _rewrite_moov(data, lambda tree: _walk(tree, visit))


def with_edits(data: bytes, edits: list[tuple[int, int]], track: int = 0) -> bytes:
    """Track `track`'s edit list replaced by `edits` ((movie-time duration, media time), version 0)."""
    elst = struct.pack(">4sI", b"\0\0\0\0", len(edits)) + b"".join(
        struct.pack(">Iii", duration, time, 0x10000) for duration, time in edits)
    traks = []

    def visit(items: list, number: int) -> None:
        if items[number][0] == b"trak":
            traks.append(items[number][1])

    def change(tree: list) -> None:
        _walk(tree, visit)
        trak = traks[track]
        trak[:] = [item for item in trak if item[0] != b"edts"]
        trak.insert(1, (b"edts", [(b"elst", elst)]))
    return _rewrite_moov(data, change)


def box_offsets(data: bytes, wanted: bytes) -> list[tuple[int, int]]:
    """(start, end) of every top-level box of that type."""
    found, offset = [], 0
    while offset + 8 <= len(data):
        size, box_type = struct.unpack_from(">I4s", data, offset)
        if size < 8:
            break
        if box_type == wanted:
            found.append((offset, offset + size))
        offset += size
    return found


def skip_reason(name: str) -> Optional[str]:
    encoder = ENCODERS.get(name)
    return f"Debian's ffmpeg has no {encoder} encoder" if encoder and not has_encoder(encoder) else None
