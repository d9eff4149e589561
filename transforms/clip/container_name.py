"""The container format by name, where FFmpeg's demuxer name covers a family.

FFmpeg opens MP4, QuickTime MOV, M4A/M4V, 3GP/3G2 and Motion JPEG 2000 with one
demuxer (`mov,mp4,m4a,3gp,3g2,mj2`) and Matroska and WebM with another
(`matroska,webm`), so its name cannot tell a `.MOV` renamed `.MP4` from an MP4.
The file itself can: the `ftyp` box's major brand (which FFmpeg exports as the
`major_brand` tag, as ffprobe's format tags show) and the EBML header's
DocType. Other demuxers' names (`avi`, `mpegts`, `flv`, ...) are specific already.
"""

from __future__ import annotations

from typing import Optional

MOV_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"
MATROSKA_FAMILY = "matroska,webm"

# Major brands (ftyp, ISO/IEC 14496-12 and the registered brand list) by prefix; longest first.
_BRAND_PREFIXES = (
    ("qt", "mov"),
    ("3g2", "3g2"),
    ("3g", "3gp"),      # 3gp4..3gp9, 3ge*, 3gg*, 3gr*, 3gs*
    ("m4a", "m4a"), ("m4b", "m4a"), ("m4p", "m4a"),
    ("m4v", "m4v"),
    ("mjp2", "mj2"), ("mj2", "mj2"),
)

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_DOCTYPE_ID = b"\x42\x82"


def specific_container(format_name: str, major_brand: Optional[str], head: Optional[bytes]) -> str:
    """`mp4`, `mov`, `m4a`, `m4v`, `3gp`, `3g2`, `mj2`, `matroska`, `webm`, else FFmpeg's name.

    A MOV-family file without an `ftyp` is QuickTime (FFmpeg reads it as such: the
    box is optional in MOV, required in MP4)."""
    if format_name == MOV_FAMILY:
        return _mov_family_member(major_brand)
    if format_name == MATROSKA_FAMILY:
        return "webm" if ebml_doctype(head or b"") == "webm" else "matroska"
    return format_name


def _mov_family_member(major_brand: Optional[str]) -> str:
    brand = (major_brand or "").strip().lower()
    if not brand:
        return "mov"
    for prefix, name in _BRAND_PREFIXES:
        if brand.startswith(prefix):
            return name
    return "mp4"  # isom, iso2..iso9, mp41, mp42, avc1, dash, msnv, camera vendors' brands


def ebml_doctype(head: bytes) -> Optional[str]:
    """The DocType string of an EBML header in the file's first bytes, else None."""
    if not head.startswith(_EBML_MAGIC):
        return None
    at = head.find(_DOCTYPE_ID, len(_EBML_MAGIC))
    if at < 0 or at + 3 > len(head):
        return None
    size_byte = head[at + 2]
    if not size_byte & 0x80:  # a one-byte size (every DocType in practice); longer ones: unknown
        return None
    size = size_byte & 0x7F
    value = head[at + 3: at + 3 + size]
    if len(value) != size:
        return None
    return value.rstrip(b"\x00").decode("ascii", "replace")
