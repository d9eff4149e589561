"""Tell "damaged media" from "not media at all" by the first bytes.

When FFmpeg cannot open a file, the error kind depends on whether the bytes
look like a video container (then it is `corrupt`, e.g. an MP4 cut before its
`moov`) or like anything else (`not_media`, e.g. a text file named .mp4).
When it can, a still image or a video header nothing can be read from is
still refused here, before anything trusts the header.
"""

from __future__ import annotations

from typing import Optional

from transforms.clip.stream_choice import choose_video_stream, no_video_reason

# FFmpeg demuxers of single pictures; `*_pipe` (png_pipe, jpeg_pipe, ...) too.
STILL_IMAGE_FORMATS = ("image2", "image2pipe")

_SIGNATURES = (
    (4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"free"), (4, b"wide"), (4, b"skip"),
    (0, b"\x1a\x45\xdf\xa3"),    # EBML: Matroska / WebM
    (0, b"RIFF"),                # AVI
    (0, b"\x00\x00\x01\xba"),    # MPEG program stream
    (0, b"\x00\x00\x01\xb3"),    # MPEG-1/2 elementary video
    (0, b"FLV"),
    (0, b"OggS"),
)


def looks_like_media(head: bytes) -> bool:
    for offset, signature in _SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            return True
    return is_streaming_container(head)  # MPEG-TS: a sync byte every 188 bytes


# Enough for three MPEG-TS sync bytes (0, 188, 376).
STREAMING_SNIFF_BYTES = 377


def is_streaming_container(head: bytes) -> bool:
    """Matroska/WebM, MPEG-TS or MPEG-PS: containers always read to the end (no full index)."""
    if head[:4] in (b"\x1a\x45\xdf\xa3", b"\x00\x00\x01\xba"):
        return True
    return len(head) >= 377 and head[0] == head[188] == head[376] == 0x47


def is_still_image(format_name: str) -> bool:
    """FFmpeg opens a PNG or JPEG named .mp4 as a one-frame "video"; it is not one."""
    return format_name in STILL_IMAGE_FORMATS or format_name.endswith("_pipe")


def video_header_problem(container, max_pixels: int) -> Optional[tuple[str, str]]:
    """(error_kind, message) when no frame can come from this header, else None."""
    stream = choose_video_stream(container)
    if stream is None:
        return "no_video_stream", no_video_reason(container)
    ctx = stream.codec_context
    if ctx is None:
        return "corrupt", "video codec not recognised (damaged codec tag)"
    if ctx.width < 1 or ctx.height < 1:
        # FFmpeg zeroes a size it rejects (e.g. an SPS claiming 60000x60000).
        return "corrupt", f"header gives no usable frame size ({ctx.width}x{ctx.height})"
    if ctx.width * ctx.height > max_pixels:
        return "corrupt", f"header claims implausible frame size {ctx.width}x{ctx.height}"
    return None
