"""Display rotation of MP4/MOV video tracks, read from the `tkhd` matrix.

PyAV exposes the display matrix only on decoded frames; decoding a frame per
clip would cost more than the whole header tier, so we walk the box headers
(a few dozen bytes read) instead.
"""

from __future__ import annotations

import io
import math
import struct
from typing import BinaryIO, Iterator, Optional

_CONTAINER_PATH = (b"moov", b"trak")


def _boxes(reader: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload_start, box_end) of each box in [start, end)."""
    offset = start
    while offset + 8 <= end:
        reader.seek(offset)
        header = reader.read(8)
        if len(header) < 8:
            return
        size, box_type = struct.unpack(">I4s", header)
        payload = offset + 8
        if size == 1:
            large = reader.read(8)
            if len(large) < 8:
                return
            size = struct.unpack(">Q", large)[0]
            payload = offset + 16
        elif size == 0:
            size = end - offset
        if size < 8:
            return
        yield box_type, payload, min(offset + size, end)
        offset += size


def _child(reader: BinaryIO, start: int, end: int, wanted: bytes) -> Optional[tuple[int, int]]:
    for box_type, payload, box_end in _boxes(reader, start, end):
        if box_type == wanted:
            return payload, box_end
    return None


def _handler(reader: BinaryIO, trak: tuple[int, int]) -> Optional[bytes]:
    mdia = _child(reader, *trak, b"mdia")
    hdlr = mdia and _child(reader, *mdia, b"hdlr")
    if not hdlr:
        return None
    reader.seek(hdlr[0] + 8)  # version/flags, pre_defined
    return reader.read(4)


def _tkhd(reader: BinaryIO, trak: tuple[int, int]) -> Optional[tuple[int, int]]:
    """(payload start, version) of the track header, or None."""
    tkhd = _child(reader, *trak, b"tkhd")
    if not tkhd:
        return None
    reader.seek(tkhd[0])
    version = reader.read(1)
    return (tkhd[0], version[0]) if version else None


def _matrix_rotation(reader: BinaryIO, trak: tuple[int, int]) -> Optional[int]:
    tkhd = _tkhd(reader, trak)
    if not tkhd:
        return None
    start, version = tkhd
    # version/flags, times, track id, reserved, duration, reserved, layer..volume
    skip = 3 + (32 if version == 1 else 20) + 8 + 8
    reader.seek(start + 1 + skip)
    raw = reader.read(36)
    if len(raw) < 36:
        return None
    a, b, _u, c, d, _v, _x, _y, _w = struct.unpack(">9i", raw)
    if (a, b, c, d) == (0, 0, 0, 0):
        return None
    degrees = math.degrees(math.atan2(b, a))
    # Same sign convention as ffprobe's "rotation" side-data field.
    return int(round(-degrees)) % 360


def _track_id(reader: BinaryIO, trak: tuple[int, int]) -> Optional[int]:
    tkhd = _tkhd(reader, trak)
    if not tkhd:
        return None
    start, version = tkhd
    reader.seek(start + 4 + (16 if version == 1 else 8))  # version/flags, creation/modification
    raw = reader.read(4)
    return struct.unpack(">I", raw)[0] if len(raw) == 4 else None


def read_rotation_deg(reader: BinaryIO, moov: Optional[bytes] = None, track_id: Optional[int] = None) -> int:
    """Rotation of a video track's matrix, degrees counter-clockwise as FFmpeg
    reports it (ffprobe's `rotation`), modulo 360; 0 when absent.

    `moov`: the moov payload when the caller has read it already (no file reads then).
    `track_id`: the indexed stream's track (FFmpeg's `stream.id`); else the first video track.
    """
    if moov is not None:
        reader, span = io.BytesIO(moov), (0, len(moov))
    else:
        end = reader.seek(0, 2)
        span = _child(reader, 0, end, b"moov")
        if not span:
            return 0
    for box_type, payload, box_end in _boxes(reader, *span):
        trak = (payload, box_end)
        if box_type == b"trak" and _handler(reader, trak) == b"vide" and (
                track_id is None or _track_id(reader, trak) == track_id):
            return _matrix_rotation(reader, trak) or 0
    return 0
