"""The camera-shaped corpus of the tests: bench/corpus/camera.py recipes plus what must hold.

Each `CameraCase` names a recipe, how long and how large to make it (short and
small, so the whole module stays fast), and the truth the index must show:
where the frame count comes from, how many gaps, whether audio is there. The
numbers themselves (frame count, every pts, duration, start) are ffprobe's.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import struct
from typing import Optional
from bench.corpus.camera import RECIPES, make_clip, run_ffmpeg


@dataclasses.dataclass(frozen=True)
class CameraCase:
    recipe: str                       # a bench.corpus.camera.RECIPES name
    duration_s: float
    expected_source: str              # frame_count_source once every tier is in place
    size: str = "320x180"
    gaps: int = 0
    has_audio: bool = True
    start_s: Optional[float] = None   # where the first shown frame must be, if the recipe says

    @property
    def name(self) -> str:
        return self.recipe

    @property
    def ext(self) -> str:
        return RECIPES[self.recipe].ext

    @property
    def encoder(self) -> str:
        return RECIPES[self.recipe].encoder

    @property
    def keeps_creation_time(self) -> bool:
        """MPEG-TS and MPEG-PS have nowhere to put the recipe's creation_time tag."""
        return self.ext not in ("ts", "mpg")


CASES = [
    # The one real-size case: 720p29.97 High with B-frames and AAC, moov at the end.
    CameraCase("bodycam_moov_at_end", 4, "index", size="1280x720"),
    CameraCase("negative_cts", 4, "index"),
    CameraCase("pre_event_buffer", 40, "index"),
    CameraCase("ip_90khz_tmcd_subs", 6, "index"),
    CameraCase("empty_edit_2s", 4, "index", has_audio=False, start_s=2.0),
    CameraCase("fragmented", 4, "index"),
    CameraCase("hevc_hvc1", 4, "index"),
    CameraCase("dropped_frames", 6, "index", gaps=1),
    CameraCase("mpeg2_ps_dropped", 6, "packets", gaps=1),
    CameraCase("bodycam_mkv", 4, "packets"),
    CameraCase("bodycam_ts", 4, "packets"),
]
CASE_BY_NAME = {case.name: case for case in CASES}


def build(case: CameraCase, folder: str, seed: int = 0) -> str:
    """Make the case's clip in `folder` (once per name); returns its path."""
    path = os.path.join(folder, f"{case.name}.{case.ext}")
    if not os.path.exists(path):
        make_clip(path, case.recipe, case.duration_s, case.size, seed)
    return path


# ---- a small co64 / 64-bit mdat file, rewritten from an ordinary one ----------------

_PATH_TO_STCO = (b"moov", b"trak", b"mdia", b"minf", b"stbl")


def _boxes(data: bytes, start: int, end: int):
    """(type, box_start, header_bytes, box_end) of each box in data[start:end]."""
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8:offset + 16])[0], 16
        elif size == 0:
            size = end - offset
        yield kind, offset, header, offset + size
        offset += size


def _rewrite(data: bytes, start: int, end: int, depth: int) -> bytes:
    """data[start:end] with every stco under moov/trak/mdia/minf/stbl turned into co64."""
    out = []
    for kind, box_start, header, box_end in _boxes(data, start, end):
        if depth < len(_PATH_TO_STCO) and kind == _PATH_TO_STCO[depth]:
            payload = _rewrite(data, box_start + header, box_end, depth + 1)
            out.append(struct.pack(">I4s", 8 + len(payload), kind) + payload)
        elif depth == len(_PATH_TO_STCO) and kind == b"stco":
            version_flags, count = struct.unpack(">4sI", data[box_start + 8:box_start + 16])
            offsets = struct.unpack(f">{count}I", data[box_start + 16:box_start + 16 + 4 * count])
            payload = version_flags + struct.pack(f">I{count}Q", count, *offsets)
            out.append(struct.pack(">I4s", 8 + len(payload), b"co64") + payload)
        else:
            out.append(data[box_start:box_end])
    return b"".join(out)


def rewrite_as_co64(source: str, target: str) -> str:
    """Copy an MP4 whose moov is at the end, with 64-bit chunk offsets (co64) and a 64-bit
    mdat size header, as a file past 4 GiB has; the media bytes stay where they were.

    FFmpeg writes an 8-byte `free` (MP4) or `wide` (MOV) box just before `mdat` for this
    very purpose: the 16-byte form of the mdat header takes the place of both headers.
    """
    with open(source, "rb") as handle:
        data = handle.read()
    boxes = list(_boxes(data, 0, len(data)))
    kinds = [kind for kind, *_ in boxes]
    free = kinds.index(b"wide" if b"wide" in kinds else b"free")  # MOV says wide, MP4 free
    mdat, moov = kinds.index(b"mdat"), kinds.index(b"moov")
    if not free + 1 == mdat < moov or boxes[free][3] - boxes[free][1] != 8:
        raise ValueError("expected an 8-byte free/wide box right before mdat, and moov after it")
    out = bytearray(data[:boxes[free][1]])
    mdat_start, mdat_end = boxes[mdat][1], boxes[mdat][3]
    out += struct.pack(">I4sQ", 1, b"mdat", mdat_end - mdat_start + 8) + data[mdat_start + 8:mdat_end]
    out += _rewrite(data, boxes[moov][1], boxes[moov][3], 0)
    out += data[boxes[moov][3]:]
    with open(target, "wb") as handle:
        handle.write(out)
    return target


def box_types(path: str) -> set[bytes]:
    """The top-level box types and those inside moov's tracks (b"mdat64": a 64-bit mdat size)."""
    size = os.path.getsize(path)
    found: set[bytes] = set()
    with open(path, "rb") as handle:
        offset = 0
        while offset + 16 <= size:
            handle.seek(offset)
            head = handle.read(16)
            box_size, kind = struct.unpack(">I4s", head[:8])
            if box_size == 1:
                box_size = struct.unpack(">Q", head[8:16])[0]
                found.add(kind + b"64")  # a 64-bit size header
            found.add(kind)
            if kind == b"moov":
                handle.seek(offset + 8)
                moov = handle.read(box_size - 8)
                found |= _inner_types(moov, 0, len(moov))
            offset += box_size or size
    return found


_INNER_CONTAINERS = {b"trak", b"mdia", b"minf", b"stbl", b"edts"}


def _inner_types(data: bytes, start: int, end: int) -> set[bytes]:
    found = set()
    for kind, box_start, header, box_end in _boxes(data, start, end):
        found.add(kind)
        if kind in _INNER_CONTAINERS:
            found |= _inner_types(data, box_start + header, box_end)
    return found


def free_bytes(folder: str) -> int:
    return shutil.disk_usage(folder).free


# ---- long clips, several video streams, cover art, camera clocks never set -----------

def make_long_clip(path: str, frames: int, rate: int = 100) -> str:
    """A clip of `frames` tiny frames, cheaply: one second encoded once, then stream-copied
    over and over (ffmpeg shifts each copy's timestamps)."""
    segment = f"{path}.segment.mkv"
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=32x32:rate={rate}:duration=1", "-c:v", "libx264",
                "-preset", "ultrafast", "-bf", "0", "-g", str(rate), segment])
    run_ffmpeg(["-stream_loop", "-1", "-i", segment, "-frames:v", str(frames), "-c", "copy", path])
    os.remove(segment)
    return path


def make_two_angle_clip(path: str, default: Optional[int]) -> str:
    """Two video streams (a 160x120 30 fps main view, a 96x64 15 fps second angle, with
    different keyframe counts), `default` (0, 1 or None) the one marked default."""
    flags = ["-disposition:v:0", "default" if default == 0 else "0",
             "-disposition:v:1", "default" if default == 1 else "0"]
    encoded = f"{path}.encoded{os.path.splitext(path)[1]}"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=2",
                "-f", "lavfi", "-i", "testsrc=size=96x64:rate=15:duration=3",
                "-map", "0", "-map", "1", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "10",
                encoded])
    # The second angle is mounted sideways (MP4/MOV keep this in its track matrix).
    run_ffmpeg(["-i", encoded, "-map", "0", "-c", "copy", *flags, "-metadata:s:v:1", "rotate=90", path])
    os.remove(encoded)
    return path


def add_cover_art(source: str, path: str, keep_video: bool = True) -> str:
    """`source` with a PNG cover picture (disposition attached_pic); without its video when
    `keep_video` is false (an audio file with cover art)."""
    cover = f"{path}.cover.png"
    run_ffmpeg(["-f", "lavfi", "-i", "color=red:size=64x64", "-frames:v", "1", cover])
    maps = ["-map", "0"] if keep_video else ["-map", "0:a"]
    picture = 1 if keep_video else 0
    run_ffmpeg(["-i", source, "-i", cover, *maps, "-map", "1", "-c", "copy", "-c:v:" + str(picture), "png",
                f"-disposition:v:{picture}", "attached_pic", path])
    os.remove(cover)
    return path


def set_mp4_times(source: str, path: str, seconds_since_1904: int) -> str:
    """Copy an MP4 with every mvhd/tkhd/mdhd creation and modification time set to this value
    (version-0 boxes), as a camera whose clock was never set writes them."""
    with open(source, "rb") as handle:
        data = bytearray(handle.read())
    for box in (b"mvhd", b"tkhd", b"mdhd"):
        at = data.find(box)
        while at > 0:
            if data[at + 4] == 0:  # version 0: 32-bit times after version/flags
                data[at + 8:at + 16] = struct.pack(">II", seconds_since_1904, seconds_since_1904)
            at = data.find(box, at + 4)
    with open(path, "wb") as handle:
        handle.write(data)
    return path
