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

from transforms.clip.stream_choice import choose_video_stream, no_video_reason, real_video_streams


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
    video_stream_count: int = 1           # real video streams (cover art not counted)
    recorded_at_warning: Optional[str] = None  # why a creation_time tag was not believed


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


# Cameras whose clock was never set write zero: 1904-01-01 (a zero MP4 time), 1970-01-01
# (a zero Unix time, also what `ffmpeg -metadata creation_time=0` writes) or a day after.
# No digital camera footage predates 1980.
PLACEHOLDER_BEFORE = dt.datetime(1980, 1, 1, tzinfo=dt.timezone.utc)


def _creation_time(container: av.container.InputContainer,
                   stream) -> tuple[Optional[dt.datetime], Optional[str]]:
    """(recorded_at, warning): the first believable date tag; a placeholder is named, not used."""
    placeholder = None
    for metadata in (container.metadata, stream.metadata):
        for key in ("creation_time", "CREATION_TIME", "date", "DATE"):
            raw = metadata.get(key)
            parsed = parse_creation_time(raw)
            if parsed is None:
                continue
            if parsed >= PLACEHOLDER_BEFORE:
                return parsed, None
            placeholder = placeholder or f"{key}={raw.strip()}"
    if placeholder is None:
        return None, None
    return None, (f"{placeholder} is a placeholder date (before 1980: the camera's clock was not set); "
                  "recorded_at left null")


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


def probe(container: av.container.InputContainer, video=None) -> StreamFacts:
    """Facts about the video stream to index (`video`, else the one
    transforms.clip.stream_choice picks). Raises LookupError if there is none."""
    video = video if video is not None else choose_video_stream(container)
    if video is None:
        raise LookupError(no_video_reason(container))
    audio = container.streams.audio[0] if container.streams.audio else None
    ctx = video.codec_context
    rate = video.average_rate or video.guessed_rate or video.base_rate
    audio_codec, audio_duration_s = _audio_facts(container, audio)
    recorded_at, recorded_warning = _creation_time(container, video)
    return StreamFacts(
        container=container.format.name,
        video_codec=ctx.name,
        width=ctx.width,
        height=ctx.height,
        pix_fmt=ctx.pix_fmt,
        rotation_deg=0,  # filled from the track header by transforms.clip.rotation
        rate=Fraction(rate) if rate else None,
        time_base=Fraction(video.time_base),
        has_reorder=bool(ctx.has_b_frames),
        header_frame_count=video.frames or None,
        header_duration_ts=video.duration,
        container_duration_s=(container.duration / av.time_base) if container.duration else None,
        recorded_at=recorded_at,
        has_audio=audio is not None,
        audio_codec=audio_codec,
        audio_duration_s=audio_duration_s,
        video_stream_count=len(real_video_streams(container)),
        recorded_at_warning=recorded_warning,
    )
