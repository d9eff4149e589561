"""Display rotation of MP4/MOV video tracks, read from the `tkhd` matrix.

PyAV exposes the display matrix only on decoded frames; decoding a frame per
clip would cost more than the whole header tier, so we read the track header
instead: from the moov the header tier has already read, or, on the packets
tier, by walking box headers in the file (a few dozen bytes read). Both walks
are the shared box walker's (transforms.clip.mp4.boxes), FFmpeg's rules.
"""

from __future__ import annotations

import math
import struct
from typing import BinaryIO, Callable, Iterator, Optional

from transforms.clip.mp4 import boxes as mb

Walk = Callable[[int, int], Iterator[tuple[bytes, int, int]]]
Read = Callable[[int, int], bytes]


def _child(walk: Walk, start: int, end: int, wanted: bytes) -> Optional[tuple[int, int]]:
    for box_type, payload, box_end in walk(start, end):
        if box_type == wanted:
            return payload, box_end
    return None


def _handler(walk: Walk, read: Read, trak: tuple[int, int]) -> Optional[bytes]:
    mdia = _child(walk, *trak, b"mdia")
    hdlr = mdia and _child(walk, *mdia, b"hdlr")
    if not hdlr:
        return None
    return read(hdlr[0] + 8, 4)  # after version/flags, pre_defined


def _tkhd(walk: Walk, read: Read, trak: tuple[int, int]) -> Optional[tuple[int, int]]:
    """(payload start, version) of the track header, or None."""
    tkhd = _child(walk, *trak, b"tkhd")
    if not tkhd:
        return None
    version = read(tkhd[0], 1)
    return (tkhd[0], version[0]) if version else None


def _matrix_rotation(walk: Walk, read: Read, trak: tuple[int, int]) -> Optional[int]:
    tkhd = _tkhd(walk, read, trak)
    if not tkhd:
        return None
    start, version = tkhd
    # version/flags, times, track id, reserved, duration, reserved, layer..volume
    skip = 3 + (32 if version == 1 else 20) + 8 + 8
    raw = read(start + 1 + skip, 36)
    if len(raw) < 36:
        return None
    a, b, _u, c, d, _v, _x, _y, _w = struct.unpack(">9i", raw)
    if (a, b, c, d) == (0, 0, 0, 0):
        return None
    degrees = math.degrees(math.atan2(b, a))
    # Same sign convention as ffprobe's "rotation" side-data field.
    return int(round(-degrees)) % 360


def _track_id(walk: Walk, read: Read, trak: tuple[int, int]) -> Optional[int]:
    tkhd = _tkhd(walk, read, trak)
    if not tkhd:
        return None
    start, version = tkhd
    raw = read(start + 4 + (16 if version == 1 else 8), 4)  # version/flags, creation/modification
    return struct.unpack(">I", raw)[0] if len(raw) == 4 else None


def _sources(reader: BinaryIO, moov: Optional[bytes]) -> Optional[tuple[Walk, Read, tuple[int, int]]]:
    """How to walk and read the moov, and its span: in memory when read already, else in the file."""
    if moov is not None:
        return (lambda start, end: mb.boxes(moov, start, end),
                lambda offset, size: moov[offset:offset + size], (0, len(moov)))
    end = reader.seek(0, 2)
    found = _child(lambda start, stop: mb.file_boxes(reader, start, stop), 0, end, b"moov")
    if not found:
        return None
    return (lambda start, stop: mb.file_boxes(reader, start, stop),
            lambda offset, size: mb.read_at(reader, offset, size), found)


def read_rotation_deg(reader: BinaryIO, moov: Optional[bytes] = None, track_id: Optional[int] = None) -> int:
    """Rotation of a video track's matrix, degrees counter-clockwise as FFmpeg
    reports it (ffprobe's `rotation`), modulo 360; 0 when absent.

    `moov`: the moov payload when the caller has read it already (no file reads then).
    `track_id`: the indexed stream's track (FFmpeg's `stream.id`); else the first video track.
    """
    sources = _sources(reader, moov)
    if sources is None:
        return 0
    walk, read, span = sources
    for box_type, payload, box_end in walk(*span):
        trak = (payload, box_end)
        if box_type == b"trak" and _handler(walk, read, trak) == b"vide" and (
                track_id is None or _track_id(walk, read, trak) == track_id):
            return _matrix_rotation(walk, read, trak) or 0
    return 0
