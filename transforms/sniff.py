"""Tell "damaged media" from "not media at all" by the first bytes.

When FFmpeg cannot open a file, the error kind depends on whether the bytes
look like a video container (then it is `corrupt`, e.g. an MP4 cut before its
`moov`) or like anything else (`not_media`, e.g. a text file named .mp4).
"""

from __future__ import annotations

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
    # MPEG-TS: a sync byte every 188 bytes.
    return len(head) >= 377 and head[0] == head[188] == head[376] == 0x47
