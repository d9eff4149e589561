"""Copies of synth clips planted for tests: re-encoded copies and trimmed excerpts.

Both are decoded from the clip and encoded again (another encoder session,
keyframes every second) and written beside it, not listed in the manifest:
what an archive collects when someone re-exports a clip, or cuts an excerpt
for court. The index should find them (`duplicate_of`, `excerpt_of`).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import av


class SynthProblem(Exception):
    """Bad synth arguments (exit 2)."""


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SynthProblem(f"--size must look like 160x120, not {text!r}") from None
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise SynthProblem("--size needs even width and height of at least 16")
    return width, height


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


@dataclasses.dataclass(frozen=True)
class Trim:
    """An excerpt of clip number `clip`: `seconds` of it from `start_s`, re-encoded, timestamps from 0."""

    clip: int
    start_s: float
    seconds: float

    @staticmethod
    def parse(text: str) -> "Trim":
        try:
            clip, start_s, seconds = text.split(":")
            trim = Trim(int(clip), float(start_s), float(seconds))
        except ValueError:
            raise SynthProblem(f"--trim must look like CLIP:START_S:SECONDS, not {text!r}") from None
        if trim.start_s < 0 or trim.seconds <= 0:
            raise SynthProblem(f"--trim {text}: START_S must be >= 0 and SECONDS > 0")
        return trim


def reencoded_relpath(relpath: str) -> str:
    return relpath[: -len(".mp4")] + "-reencoded.mp4"


def excerpt_relpath(relpath: str) -> str:
    return relpath[: -len(".mp4")] + "-excerpt.mp4"


def _reencode(source: str, target: str, fps: int, size: Optional[str], bit_rate: Optional[int],
              start_s: float = 0.0, seconds: Optional[float] = None) -> int:
    """Decode `source` (from start_s, for `seconds`), encode it again; returns frames written."""
    with av.open(source) as src, av.open(target, "w", format="mp4", options={"movflags": "faststart"}) as out:
        in_stream = src.streams.video[0]
        width, height = parse_size(size) if size else (in_stream.width, in_stream.height)
        out.metadata.update(src.metadata)
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        options = {"g": str(fps), "bf": "0", "preset": "veryfast", "threads": "1"}
        if bit_rate:
            stream.bit_rate = bit_rate
        else:
            options["crf"] = "23"
        stream.options = options
        end_s = None if seconds is None else start_s + seconds
        first_pts = None
        written = 0
        for frame in src.decode(in_stream):
            time_s = float(frame.pts * frame.time_base)
            if time_s < start_s - 1e-6 or (end_s is not None and time_s >= end_s - 1e-6):
                continue
            first_pts = frame.pts if first_pts is None else first_pts
            copy = frame.reformat(width=width, height=height, format="yuv420p")
            copy.pts, copy.time_base = frame.pts - (first_pts if seconds is not None else 0), frame.time_base
            for packet in stream.encode(copy):
                out.mux(packet)
            written += 1
        for packet in stream.encode():
            out.mux(packet)
    return written


def write_reencoded(source: str, target: str, fps: int, size: str, bit_rate: int) -> None:
    """Decode a clip and encode it again, at another size and bit rate (same timestamps)."""
    _reencode(source, target, fps, size, bit_rate)


def write_excerpt(source: str, target: str, fps: int, start_s: float, seconds: float) -> int:
    """`seconds` of a clip from `start_s`, encoded again at its size; timestamps start at 0."""
    return _reencode(source, target, fps, None, None, start_s, seconds)
