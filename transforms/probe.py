"""Container and stream facts, and what the header claims about them.

Nothing here reads media data: these are the container's own statements,
kept beside the measured timeline so disagreements can be reported.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from fractions import Fraction
from typing import Optional

import av


@dataclasses.dataclass(frozen=True)
class StreamFacts:
    container: str
    video_codec: str
    width: int
    height: int
    pix_fmt: Optional[str]
    rotation_deg: int
    rate: Optional[Fraction]             # nominal (average) frame rate
    time_base: Fraction
    has_reorder: bool                     # B-frames: decode order != presentation order
    header_frame_count: Optional[int]     # nb_frames, None when the header does not say
    header_duration_ts: Optional[int]     # video stream duration, in time_base units
    container_duration_s: Optional[float]
    recorded_at: Optional[dt.datetime]
    has_audio: bool
    audio_codec: Optional[str]
    audio_duration_s: Optional[float]


def parse_creation_time(value: Optional[str]) -> Optional[dt.datetime]:
    """ISO-8601 `creation_time` tag -> aware UTC datetime (naive means UTC)."""
    if not value:
        return None
    text = value.strip().replace(" ", "T", 1)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def _creation_time(container: av.container.InputContainer, stream) -> Optional[dt.datetime]:
    for metadata in (container.metadata, stream.metadata):
        for key in ("creation_time", "CREATION_TIME", "date", "DATE"):
            parsed = parse_creation_time(metadata.get(key))
            if parsed is not None:
                return parsed
    return None


def _audio_facts(container, audio) -> tuple[Optional[str], Optional[float]]:
    if audio is None:
        return None, None
    duration_s = None
    if audio.duration and audio.time_base:
        duration_s = float(audio.duration * audio.time_base)
    elif container.duration:
        duration_s = container.duration / av.time_base
    # A damaged codec tag leaves no codec context; the video is still indexable.
    return (audio.codec_context.name if audio.codec_context else None), duration_s


def probe(container: av.container.InputContainer) -> StreamFacts:
    """Facts about the first video stream. Raises LookupError if there is none."""
    if not container.streams.video:
        raise LookupError("no video stream")
    video = container.streams.video[0]
    audio = container.streams.audio[0] if container.streams.audio else None
    ctx = video.codec_context
    rate = video.average_rate or video.guessed_rate or video.base_rate
    audio_codec, audio_duration_s = _audio_facts(container, audio)
    return StreamFacts(
        container=container.format.name,
        video_codec=ctx.name,
        width=ctx.width,
        height=ctx.height,
        pix_fmt=ctx.pix_fmt,
        rotation_deg=0,  # filled from the track header by transforms.rotation
        rate=Fraction(rate) if rate else None,
        time_base=Fraction(video.time_base),
        has_reorder=bool(ctx.has_b_frames),
        header_frame_count=video.frames or None,
        header_duration_ts=video.duration,
        container_duration_s=(container.duration / av.time_base) if container.duration else None,
        recorded_at=_creation_time(container, video),
        has_audio=audio is not None,
        audio_codec=audio_codec,
        audio_duration_s=audio_duration_s,
    )
