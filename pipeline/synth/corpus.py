"""`clipindex synth`: a deterministic corpus of real H.264 MP4 clips and its manifest.

Encoding every frame would make large corpora slow, so a pool of one-GOP
segments is encoded once (one encoder session, so every segment shares the
same SPS/PPS), and each clip is built by remuxing those packets with shifted
timestamps. A clip whose length is not a whole number of GOPs ends with the
first frames of a GOP, which is valid because the segments have no B-frames.
The clips' frame counts add up to hours x 3600 x fps exactly. What the
segments show, and why every clip is distinct footage, is in
`pipeline.synth.footage`; injected conditions replace whole GOPs (one second
each) with condition segments, so tests know the truth. Planted copies
(re-encoded, trimmed) are written by `pipeline.synth.copies`.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import os
import random
from fractions import Fraction
from typing import Callable, Optional, Sequence

from pipeline.synth.copies import (
    Reencode,
    SynthProblem,
    Trim,
    excerpt_relpath,
    write_excerpt,
    write_reencoded,
)
from pipeline.synth.copies import parse_size
from pipeline.synth.copies import reencoded_relpath as _reencoded_relpath
from pipeline.synth.footage import CONDITIONS, Footage, clip_classes, footage_line, make_footage, pool_size
from pipeline.synth.plan import ClipPlan
from pipeline.synth.remux import MIN_GOP_FRAMES, encode_segments, gop_frames, write_clip

__all__ = ["Condition", "Reencode", "Trim", "SynthProblem", "plan_corpus", "reencoded_relpath",
           "excerpt_relpath_of", "split_frames", "synth"]

CORPUS_START = dt.datetime(2026, 1, 5, 7, 0, tzinfo=dt.timezone.utc)


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


def reencoded_relpath(plan: "ClipPlan") -> str:
    return _reencoded_relpath(plan.relpath)


def excerpt_relpath_of(plan: "ClipPlan") -> str:
    return excerpt_relpath(plan.relpath)


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


def _pool_for(frames_per_clip: Sequence[int], fps: int, width: int, height: int) -> int:
    gop = gop_frames(fps)
    gops = [-(-frames // gop) for frames in frames_per_clip]
    return pool_size(len(gops), sum(gops), max(gops), gop, width, height)


def plan_corpus(clips: int, hours: float, fps: int, seed: int,
                size: tuple[int, int] = (160, 120)) -> list[ClipPlan]:
    exact = Fraction(hours).limit_denominator(10**6) * 3600 * fps
    if exact.denominator != 1:
        raise SynthProblem(f"{hours} h at {fps} fps is not a whole number of frames")
    rng = random.Random(seed)
    frames_per_clip = split_frames(int(exact), clips, rng)
    pool = _pool_for(frames_per_clip, fps, *size)
    classes = clip_classes(clips, pool, seed)  # one footage class per clip: never a copy of another
    devices = max(1, clips // 25)
    officers = max(1, clips // 15)
    plans = []
    start = CORPUS_START
    for number, frames in enumerate(frames_per_clip):
        device = f"BWC-{rng.randrange(devices) + 1:04d}"
        gops = -(-frames // gop_frames(fps))
        start += dt.timedelta(seconds=rng.randint(60, 4 * 3600))
        plans.append(ClipPlan(
            relpath=f"clips/{device}/{start:%Y-%m-%d}/clip-{number:06d}.mp4",
            frame_count=frames,
            recorded_at=start,
            device_id=device,
            officer_id=f"OFC-{rng.randrange(officers) + 1:04d}",
            segments=footage_line(classes[number], pool, gops),
        ))
    return plans


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


def inject(plans: list[ClipPlan], conditions: Sequence[Condition], fps: int,
           footage: Footage) -> list[ClipPlan]:
    """Replace whole GOPs (one second each) of the planned footage with injected segments."""
    plans = list(plans)
    if conditions and gop_frames(fps) != fps:
        raise SynthProblem(f"injected conditions need GOPs of one second: --fps {MIN_GOP_FRAMES} or more")
    for cond in conditions:
        if cond.kind not in CONDITIONS:
            raise SynthProblem(f"unknown condition {cond.kind!r}; use one of {', '.join(CONDITIONS)}")
        if not 0 <= cond.clip < len(plans):
            raise SynthProblem(f"condition on clip {cond.clip}, but there are {len(plans)} clips")
        plan = plans[cond.clip]
        if cond.start_s < 0 or cond.duration_s < 1 or (cond.start_s + cond.duration_s) * fps > plan.frame_count:
            raise SynthProblem(f"{cond.kind} {cond.start_s}+{cond.duration_s} s does not fit in clip "
                               f"{cond.clip} ({plan.frame_count / fps:.2f} s)")
        segments = list(plan.segments)
        injected = footage.condition_segments(cond.kind)
        for second in range(cond.start_s, cond.start_s + cond.duration_s):
            segments[second] = injected[second % len(injected)]
        plans[cond.clip] = dataclasses.replace(plan, segments=tuple(segments))
    return plans


def _check_copies(plans: list[ClipPlan], fps: int, reencode: Sequence[Reencode], trims: Sequence[Trim]) -> None:
    for copy in reencode:
        parse_size(copy.size)
        if not 0 <= copy.clip < len(plans):
            raise SynthProblem(f"re-encode of clip {copy.clip}, but there are {len(plans)} clips")
    trimmed = set()
    for trim in trims:
        if not 0 <= trim.clip < len(plans):
            raise SynthProblem(f"trim of clip {trim.clip}, but there are {len(plans)} clips")
        length_s = plans[trim.clip].frame_count / fps
        if trim.start_s + trim.seconds > length_s + 1e-9:
            raise SynthProblem(f"trim {trim.start_s:g}+{trim.seconds:g} s does not fit in clip {trim.clip} "
                               f"({length_s:.2f} s)")
        if trim.clip in trimmed:
            raise SynthProblem(f"one excerpt per clip: clip {trim.clip} is trimmed twice")
        trimmed.add(trim.clip)


def synth(out_dir: str, clips: int, hours: float, fps: int = 30, size: str = "160x120",
          seed: int = 0, progress: Optional[Callable[[int, int], None]] = None,
          conditions: Sequence[Condition] = (), reencode: Sequence[Reencode] = (),
          trims: Sequence[Trim] = ()) -> list[ClipPlan]:
    """Write the corpus; returns the plans. Conditions change the footage at known times;
    re-encoded copies and excerpts go beside their clip (`reencoded_relpath`,
    `excerpt_relpath_of`) and are not in the manifest."""
    if fps < 1:
        raise SynthProblem("--fps must be a positive whole number")
    width, height = parse_size(size)
    plans = plan_corpus(clips, hours, fps, seed, (width, height))
    footage = make_footage(_pool_for([p.frame_count for p in plans], fps, width, height), seed, width, height)
    plans = inject(plans, conditions, fps, footage)
    _check_copies(plans, fps, reencode, trims)
    os.makedirs(out_dir, exist_ok=True)
    segments = encode_segments(out_dir, fps, width, height, footage)
    try:
        for number, plan in enumerate(plans, 1):
            write_clip(os.path.join(out_dir, plan.relpath), plan, segments, fps)
            if progress:
                progress(number, len(plans))
    finally:
        os.remove(segments.template_path)
    del segments
    for copy in reencode:
        plan = plans[copy.clip]
        write_reencoded(os.path.join(out_dir, plan.relpath), os.path.join(out_dir, reencoded_relpath(plan)),
                        fps, copy.size, copy.bit_rate)
    for trim in trims:
        plan = plans[trim.clip]
        write_excerpt(os.path.join(out_dir, plan.relpath), os.path.join(out_dir, excerpt_relpath_of(plan)),
                      fps, trim.start_s, trim.seconds)
    write_manifest(out_dir, plans, fps)
    return plans
