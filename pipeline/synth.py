"""`clipindex synth`: a deterministic corpus of real H.264 MP4 clips and its manifest.

Encoding every frame would make large corpora slow, so a handful of one-GOP
segments are encoded once (one encoder session, so every segment shares the
same SPS/PPS), and each clip is built by remuxing those packets with shifted
timestamps. A clip whose length is not a whole number of GOPs ends with the
first frames of a GOP, which is valid because the segments have no B-frames.
The clips' frame counts add up to hours x 3600 x fps exactly. What the
segments show is in `pipeline.synth_footage`; injected conditions replace
whole GOPs (one second each) with condition segments, so tests know the truth.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import random
from fractions import Fraction
from typing import Callable, Optional, Sequence

import av

from pipeline.synth_footage import (
    ALL_SEGMENTS,
    CONDITION_SEGMENTS,
    footage_line,
    footage_lines,
    variant_frame,
)

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


@dataclasses.dataclass(frozen=True)
class Condition:
    """A picture problem injected into clip number `clip` over whole seconds (whole GOPs)
    [start_s, start_s + duration_s), so tests know the truth."""

    kind: str        # black (lens covered) | frozen | blur
    clip: int
    start_s: int
    duration_s: int

    @staticmethod
    def parse(text: str) -> "Condition":
        try:
            kind, clip, start_s, duration_s = text.split(":")
            return Condition(kind, int(clip), int(start_s), int(duration_s))
        except ValueError:
            raise SynthProblem(f"--inject must look like black:CLIP:START_S:SECONDS, not {text!r}") from None


@dataclasses.dataclass(frozen=True)
class Reencode:
    """A copy of clip number `clip` decoded and encoded again at another size and bit rate."""

    clip: int
    size: str = "96x72"
    bit_rate: int = 40_000

    @staticmethod
    def parse(text: str) -> "Reencode":
        parts = text.split(":")
        try:
            return Reencode(int(parts[0]), *parts[1:2], *(int(p) for p in parts[2:3]))
        except (ValueError, TypeError):
            raise SynthProblem(f"--reencode must look like CLIP[:WxH[:BITS_PER_S]], not {text!r}") from None


def reencoded_relpath(plan: "ClipPlan") -> str:
    return plan.relpath[: -len(".mp4")] + "-reencoded.mp4"


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
    # Two clips share a line only beyond len(lines) = 272 clips (then they repeat footage).
    lines = footage_lines(seed)
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
            segments=footage_line(lines[number % len(lines)], gops),
        ))
    return plans


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
        for variant in range(ALL_SEGMENTS):
            for index in range(gop):
                frame = av.VideoFrame.from_ndarray(variant_frame(variant, index, gop, width, height),
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
    groups = [flat[v * gop:(v + 1) * gop] for v in range(ALL_SEGMENTS)]
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


def inject(plans: list[ClipPlan], conditions: Sequence[Condition], fps: int) -> list[ClipPlan]:
    """Replace whole GOPs (one second each) of the planned footage with injected segments."""
    plans = list(plans)
    if conditions and gop_frames(fps) != fps:
        raise SynthProblem(f"injected conditions need GOPs of one second: --fps {MIN_GOP_FRAMES} or more")
    for cond in conditions:
        if cond.kind not in CONDITION_SEGMENTS:
            raise SynthProblem(f"unknown condition {cond.kind!r}; use one of {', '.join(CONDITION_SEGMENTS)}")
        if not 0 <= cond.clip < len(plans):
            raise SynthProblem(f"condition on clip {cond.clip}, but there are {len(plans)} clips")
        plan = plans[cond.clip]
        if cond.start_s < 0 or cond.duration_s < 1 or (cond.start_s + cond.duration_s) * fps > plan.frame_count:
            raise SynthProblem(f"{cond.kind} {cond.start_s}+{cond.duration_s} s does not fit in clip "
                               f"{cond.clip} ({plan.frame_count / fps:.2f} s)")
        segments = list(plan.segments)
        injected = CONDITION_SEGMENTS[cond.kind]
        for second in range(cond.start_s, cond.start_s + cond.duration_s):
            segments[second] = injected[second % len(injected)]
        plans[cond.clip] = dataclasses.replace(plan, segments=tuple(segments))
    return plans


def write_reencoded(source: str, target: str, fps: int, size: str, bit_rate: int) -> None:
    """Decode a clip and encode it again, smaller and at another bit rate (same timestamps)."""
    width, height = parse_size(size)
    with av.open(source) as src, av.open(target, "w", format="mp4", options={"movflags": "faststart"}) as out:
        out.metadata.update(src.metadata)
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bit_rate
        stream.options = {"g": str(fps), "bf": "0", "preset": "veryfast"}
        for frame in src.decode(src.streams.video[0]):
            smaller = frame.reformat(width=width, height=height, format="yuv420p")
            smaller.pts, smaller.time_base = frame.pts, frame.time_base
            for packet in stream.encode(smaller):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def synth(out_dir: str, clips: int, hours: float, fps: int = 30, size: str = "160x120",
          seed: int = 0, progress: Optional[Callable[[int, int], None]] = None,
          conditions: Sequence[Condition] = (), reencode: Sequence[Reencode] = ()) -> list[ClipPlan]:
    """Write the corpus; returns the plans. Conditions change the footage at known times;
    re-encoded copies go beside their clip (`reencoded_relpath`) and are not in the manifest."""
    if fps < 1:
        raise SynthProblem("--fps must be a positive whole number")
    width, height = parse_size(size)
    plans = inject(plan_corpus(clips, hours, fps, seed), conditions, fps)
    for copy in reencode:
        parse_size(copy.size)
        if not 0 <= copy.clip < len(plans):
            raise SynthProblem(f"re-encode of clip {copy.clip}, but there are {len(plans)} clips")
    os.makedirs(out_dir, exist_ok=True)
    segments = encode_segments(out_dir, fps, width, height)
    try:
        for number, plan in enumerate(plans, 1):
            write_clip(os.path.join(out_dir, plan.relpath), plan, segments, fps)
            if progress:
                progress(number, len(plans))
    finally:
        os.remove(segments.template_path)
    for copy in reencode:
        plan = plans[copy.clip]
        write_reencoded(os.path.join(out_dir, plan.relpath), os.path.join(out_dir, reencoded_relpath(plan)),
                        fps, copy.size, copy.bit_rate)
    write_manifest(out_dir, plans, fps)
    return plans
