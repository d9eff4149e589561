"""Which frames to decode for visual QA, and decoding only those (PyAV).

Modes (the `--decode` option):
- `keyframes`: the decoder skips every non-key frame (`skip_frame = "NONKEY"`);
  packets are still demuxed, but only keyframes cost decode time.
- `fps:N`: one frame every 1/N s. When N is below the clip's keyframe rate,
  each sample is the keyframe at or before its target time, reached by a seek:
  a few keyframe decodes beat decoding every GOP in between (bench/visual_qa.py
  measures both). Otherwise every frame is decoded in order and the first one
  at or after each target time is kept.

Frames are handed on already downscaled to gray at the analysis width, one at
a time, so memory does not grow with the clip.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Iterator, Optional

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from transforms.clip.qa.metrics import analysis_size

TIME_EPSILON_S = 1e-6  # float noise when comparing a frame's time with a target time


@dataclasses.dataclass(frozen=True)
class SampleMode:
    keyframes_only: bool
    fps: Optional[float]  # samples per second for fps:N, None for keyframes

    @staticmethod
    def parse(text: str) -> "SampleMode":
        if text == "keyframes":
            return SampleMode(keyframes_only=True, fps=None)
        if text.startswith("fps:") and float(text[4:]) > 0:
            return SampleMode(keyframes_only=False, fps=float(text[4:]))
        raise ValueError(f"decode mode must be keyframes or fps:N, not {text!r}")


@dataclasses.dataclass(frozen=True)
class SampledFrame:
    pts_s: float
    is_keyframe: bool
    gray: np.ndarray  # analysis-sized luma, uint8


@dataclasses.dataclass
class SamplingReport:
    strategy: str = ""                  # keyframes | sequential | seek
    stopped_early: Optional[str] = None  # FFmpeg's complaint when demuxing broke off
    undecodable_packets: int = 0        # corrupt packets skipped (their frames are lost)


def _decoded(container, stream, report: SamplingReport, keys_only: bool = False) -> Iterator[av.VideoFrame]:
    """Decode packet by packet, so a corrupt packet costs its own frames, not the rest of the
    clip (container.decode would end at the first error). Demux errors still end it.
    `keys_only`: packets not flagged as keyframes are not handed to the decoder at all (it
    would discard them: skip_frame NONKEY), which saves a call per frame."""
    for packet in container.demux(stream):
        if keys_only and packet.size and not packet.is_keyframe:
            continue
        try:
            frames = packet.decode()  # the final empty packet drains the decoder
        except av.FFmpegError:
            report.undecodable_packets += 1
            continue
        yield from frames


_thread = threading.local()


def _to_gray(frame: av.VideoFrame) -> np.ndarray:
    width, height = analysis_size(frame.width, frame.height)
    # `frame.reformat` builds a new swscale context for every frame (about 1 ms, more than
    # decoding a small keyframe); one reformatter per thread keeps its context while sizes match.
    reformatter = getattr(_thread, "reformatter", None)
    if reformatter is None:
        reformatter = _thread.reformatter = VideoReformatter()
    # One swscale pass scales and drops chroma; AREA keeps hashes stable across sizes.
    return reformatter.reformat(frame, width=width, height=height, format="gray",
                                interpolation="AREA").to_ndarray()


def _frame_time_s(frame: av.VideoFrame) -> Optional[float]:
    pts, time_base = frame.pts, frame.time_base
    if pts is None or time_base is None:
        return None
    # As the frames table computes pts_s (Fraction arithmetic per frame cost more than a decode).
    return pts * (time_base.numerator / time_base.denominator)


def _sample(frame: av.VideoFrame, pts_s: float) -> SampledFrame:
    return SampledFrame(pts_s=pts_s, is_keyframe=bool(frame.key_frame), gray=_to_gray(frame))


def _keyframes(container, stream, report: SamplingReport) -> Iterator[SampledFrame]:
    stream.codec_context.skip_frame = "NONKEY"
    # Demuxers that honour it (MP4/MOV) then skip non-key samples without reading them.
    stream.discard = av.stream.Discard.nonkey
    for frame in _decoded(container, stream, report, keys_only=True):
        pts_s = _frame_time_s(frame)
        if pts_s is not None:
            yield _sample(frame, pts_s)


def _sequential(container, stream, fps: float, report: SamplingReport) -> Iterator[SampledFrame]:
    step_s = 1.0 / fps
    next_s: Optional[float] = None
    for frame in _decoded(container, stream, report):
        pts_s = _frame_time_s(frame)
        if pts_s is None or (next_s is not None and pts_s < next_s - TIME_EPSILON_S):
            continue
        yield _sample(frame, pts_s)
        next_s = pts_s + step_s if next_s is None else next_s + step_s
        while next_s <= pts_s + TIME_EPSILON_S:  # a gap in the clip: skip missed targets
            next_s += step_s


def _seeking(container, stream, fps: float, start_s: float, end_s: float,
             report: SamplingReport) -> Iterator[SampledFrame]:
    step_s = 1.0 / fps
    stream.codec_context.skip_frame = "NONKEY"  # after a seek only the keyframe is wanted
    time_base = stream.time_base
    last_s: Optional[float] = None
    target_s = start_s
    while target_s < end_s:
        container.seek(int(target_s / time_base), stream=stream, backward=True)
        for frame in _decoded(container, stream, report):
            pts_s = _frame_time_s(frame)
            if pts_s is None:
                continue
            if last_s is None or pts_s > last_s + TIME_EPSILON_S:
                yield _sample(frame, pts_s)
                last_s = pts_s
            break
        target_s += step_s


def sample_frames(container, stream, mode: SampleMode, start_s: float, end_s: float,
                  keyframe_interval_s: Optional[float], report: SamplingReport) -> Iterator[SampledFrame]:
    """Decoded samples in presentation order; a demux error ends the clip's samples."""
    if mode.keyframes_only:
        report.strategy, frames = "keyframes", _keyframes(container, stream, report)
    elif keyframe_interval_s and 1.0 / mode.fps > keyframe_interval_s:
        report.strategy, frames = "seek", _seeking(container, stream, mode.fps, start_s, end_s, report)
    else:
        report.strategy, frames = "sequential", _sequential(container, stream, mode.fps, report)
    try:
        yield from frames
    except av.FFmpegError as exc:
        report.stopped_early = f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
