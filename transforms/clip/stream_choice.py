"""Which video stream of a file is "the video": one rule for probe, timeline and visual QA.

FFmpeg lists cover art (an MP4 `covr` picture, an MKV image attachment, an
MP3's embedded JPEG) as a video stream with the `attached_pic` disposition:
one picture, not footage, so it is never chosen and never counted. Of the
real video streams the one marked default is indexed (a camera's main view
beside a second angle or a preview track), else the first.
"""

from __future__ import annotations

from typing import Optional

from av.stream import Disposition

NOT_FOOTAGE = Disposition.attached_pic


def real_video_streams(container) -> list:
    """The container's video streams that are footage (cover art left out)."""
    return [stream for stream in container.streams.video if not stream.disposition & NOT_FOOTAGE]


def choose_video_stream(container):
    """The stream to index, or None when there is no real video stream."""
    streams = real_video_streams(container)
    if not streams:
        return None
    return next((stream for stream in streams if stream.disposition & Disposition.default), streams[0])


def no_video_reason(container) -> Optional[str]:
    """Why `choose_video_stream` found nothing (None when it found a stream)."""
    if real_video_streams(container):
        return None
    if container.streams.video:
        return "the only video stream is an attached picture (cover art), not footage"
    return "container has no video stream"
