"""`clipindex synth`: a deterministic corpus of real H.264 MP4 clips and its manifest.

Encoding every frame would make large corpora slow, so a handful of one-GOP
segments are encoded once (one encoder session, so every segment shares the
same SPS/PPS), and each clip is built by remuxing those packets with shifted
timestamps. A clip whose length is not a whole number of GOPs ends with the
first frames of a GOP, which is valid because the segments have no B-frames.
The clips' frame counts add up to hours x 3600 x fps exactly.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import random
from fractions import Fraction
from typing import Callable, Optional

import av
import numpy as np

SEGMENT_VARIANTS = 8
# A GOP of one second, but never fewer than this many frames: at --fps 1 a
# one-frame GOP would make every frame a keyframe and large corpora big.
MIN_GOP_FRAMES = 10
CORPUS_START = dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.timezone.utc)


class SynthProblem(Exception):
    """Bad synth arguments (exit 2)."""


@dataclasses.dataclass(frozen=True)
class ClipPlan:
    relpath: str
    frame_count: int
    recorded_at: dt.datetime
    device_id: str
    officer_id: str
    segments: tuple[int, ...]  # segment variant for each GOP


def gop_frames(fps: int) -> int:
    return max(fps, MIN_GOP_FRAMES)


def split_frames(total_frames: int, clips: int, rng: random.Random) -> list[int]:
    """Split total_frames into `clips` positive parts of varied size, summing exactly."""
    if clips < 1:
        raise SynthProblem("--clips must be at least 1")
    if total_frames < clips:
        raise SynthProblem(f"{total_frames} frames cannot make {clips} clips of at least one frame")
    weights = [rng.uniform(0.5, 1.5) for _ in range(clips)]
    scale = (total_frames - clips) / sum(weights)
    parts = [1 + int(w * scale) for w in weights]
    for i in range(total_frames - sum(parts)):
        parts[i % clips] += 1
    return parts


def plan_corpus(clips: int, hours: float, fps: int, seed: int) -> list[ClipPlan]:
    exact = Fraction(hours).limit_denominator(10**6) * 3600 * fps
    if exact.denominator != 1:
        raise SynthProblem(f"{hours} h at {fps} fps is not a whole number of frames")
    rng = random.Random(seed)
    devices = max(1, clips // 25)
    officers = max(1, clips // 15)
    plans = []
    start = CORPUS_START
    for number, frames in enumerate(split_frames(int(exact), clips, rng)):
        device = f"BWC-{rng.randrange(devices) + 1:04d}"
        gops = -(-frames // gop_frames(fps))
        start += dt.timedelta(seconds=rng.randint(60, 4 * 3600))
        plans.append(ClipPlan(
            relpath=f"clips/{device}/{start:%Y-%m-%d}/clip-{number:06d}.mp4",
            frame_count=frames,
            recorded_at=start,
            device_id=device,
            officer_id=f"OFC-{rng.randrange(officers) + 1:04d}",
            segments=tuple(rng.randrange(SEGMENT_VARIANTS) for _ in range(gops)),
        ))
    return plans


def _variant_frame(variant: int, index: int, gop: int, width: int, height: int) -> np.ndarray:
    """A textured picture that moves within the GOP, different for each variant."""
    ys, xs = np.mgrid[0:height, 0:width]
    phase = index / max(gop, 1)
    base = (np.sin(xs / (6 + variant) + phase * 6.28) * 60 + np.cos(ys / (5 + variant)) * 40 + 128)
    frame = np.stack([base, np.roll(base, 7 * variant, axis=1), 255 - base], axis=-1)
    size = max(4, min(width, height) // 4)
    x0 = int((width - size) * phase)
    y0 = (height - size) * ((variant * 37) % 100) // 100
    frame[y0:y0 + size, x0:x0 + size] = (255, 255 - 30 * variant, 30 * variant)
    return frame.clip(0, 255).astype(np.uint8)


@dataclasses.dataclass
class EncodedSegments:
    template_path: str                       # a tiny MP4 holding the stream parameters
    packets: list[list[tuple[bytes, bool]]]  # per variant: one GOP of (payload, keyframe)


def encode_segments(work_dir: str, fps: int, width: int, height: int) -> EncodedSegments:
    path = os.path.join(work_dir, ".segments.mp4")
    gop = gop_frames(fps)
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "bf": "0", "sc_threshold": "0",
                          "preset": "veryfast", "crf": "28"}
        pts = 0
        for variant in range(SEGMENT_VARIANTS):
            for index in range(gop):
                frame = av.VideoFrame.from_ndarray(_variant_frame(variant, index, gop, width, height),
                                                   format="rgb24")
                frame.pts = pts
                pts += 1
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    flat: list[tuple[bytes, bool]] = []
    with av.open(path) as source:
        for packet in source.demux(source.streams.video[0]):
            if packet.size:  # skip the flush packet at the end
                flat.append((bytes(packet), packet.is_keyframe))
    groups = [flat[v * gop:(v + 1) * gop] for v in range(SEGMENT_VARIANTS)]
    return EncodedSegments(template_path=path, packets=groups)


def write_clip(path: str, plan: ClipPlan, segments: EncodedSegments, fps: int) -> None:
    time_base = Fraction(1, fps)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(segments.template_path) as template, \
            av.open(path, "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(template.streams.video[0])
        # Must be set before the first packet: the header is written then.
        out.metadata["creation_time"] = plan.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        written = 0
        for variant in plan.segments:
            for payload, keyframe in segments.packets[variant]:
                if written == plan.frame_count:
                    break
                packet = av.Packet(payload)
                packet.pts = packet.dts = written
                packet.duration = 1
                packet.time_base = time_base
                packet.is_keyframe = keyframe
                packet.stream = stream
                out.mux(packet)
                written += 1


def write_manifest(out_dir: str, plans: list[ClipPlan], fps: int) -> str:
    path = os.path.join(out_dir, "manifest.csv")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uri", "expected_duration_s", "recorded_at", "device_id", "officer_id"])
        for plan in plans:
            writer.writerow([os.path.abspath(os.path.join(out_dir, plan.relpath)),
                             repr(plan.frame_count / fps),
                             plan.recorded_at.isoformat().replace("+00:00", "Z"),
                             plan.device_id, plan.officer_id])
    return path


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SynthProblem(f"--size must look like 160x120, not {text!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise SynthProblem("--size needs even width and height of at least 16")
    return width, height


def synth(out_dir: str, clips: int, hours: float, fps: int = 30, size: str = "160x120",
          seed: int = 0, progress: Optional[Callable[[int, int], None]] = None) -> list[ClipPlan]:
    if fps < 1:
        raise SynthProblem("--fps must be a positive whole number")
    width, height = parse_size(size)
    plans = plan_corpus(clips, hours, fps, seed)
    os.makedirs(out_dir, exist_ok=True)
    segments = encode_segments(out_dir, fps, width, height)
    try:
        for number, plan in enumerate(plans, 1):
            write_clip(os.path.join(out_dir, plan.relpath), plan, segments, fps)
            if progress:
                progress(number, len(plans))
    finally:
        os.remove(segments.template_path)
    write_manifest(out_dir, plans, fps)
    return plans
