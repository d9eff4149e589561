"""MP4/MOV boxes: walking them in a file or in a buffer, and reading their fields.

Shared by the sample-table readers (`sample_table`, `edit_list`, `moof`, `trun`) and the
rotation reader (`clip.rotation`), in memory (`boxes`) or in a file (`file_boxes`).
Reading follows FFmpeg's libavformat/mov.c where it matters for the numbers:
a size of 1 means a 64-bit size follows, 0 means "to the end", and a top-level
box that runs past the end of the file is cut at the end of the file.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Callable, Iterator, Optional

import numpy as np

# A moov this large (hours of 60 fps video have ~1-2 MB) is left to FFmpeg.
MAX_MOOV_BYTES = 64 * 1024 * 1024
U32 = np.dtype(">u4")
U64 = np.dtype(">u8")
# Boxes FFmpeg reads as plain containers inside a track (its parse table maps them to
# mov_read_default). Opening the same ones here means a sample-table box FFmpeg would
# read (and let override the first one) is seen here too, as a duplicate.
CONTAINERS = frozenset((b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"tref",
                        b"udta", b"mvex", b"moof", b"traf"))

Span = tuple[int, int]  # (payload start, box end) inside a buffer


@dataclasses.dataclass(frozen=True)
class TopBox:
    """One top-level box of a file, as FFmpeg's root walk sees it."""

    type: bytes
    offset: int        # first byte of the box header
    payload: int       # first byte after the header
    end: int           # where the box ends, cut at the end of the file
    declared_end: int  # where its header says it ends

    @property
    def cut(self) -> bool:
        return self.declared_end > self.end


def top_level(reader, file_size: int) -> list[TopBox]:
    """Every top-level box header, reading 16 bytes per box (never a box's payload).

    Stops where FFmpeg's root walk stops: a size smaller than its own header.
    """
    return list(iter_top_level(reader, file_size))


def iter_top_level(reader, file_size: int) -> Iterator[TopBox]:
    """The top-level box headers one by one (see `top_level`)."""
    offset = 0
    while offset + 8 <= file_size:
        header = read_at(reader, offset, min(16, file_size - offset))
        if len(header) < 8:
            break
        size, box_type = struct.unpack(">I4s", header[:8])
        payload = offset + 8
        if size == 1:
            if len(header) < 16:
                break
            size = struct.unpack(">Q", header[8:16])[0]
            payload = offset + 16
        elif size == 0:
            size = file_size - offset
        if size < payload - offset:
            break
        declared_end = offset + size
        yield TopBox(box_type, offset, payload, min(declared_end, file_size), declared_end)
        offset = declared_end


def read_at(reader, offset: int, size: int) -> bytes:
    """`size` bytes at `offset`, from what FFmpeg already read when the reader remembers it
    (transforms.clip.read_memory), else read now."""
    recall = getattr(reader, "recall", None)
    data = recall(offset, size) if recall is not None else None
    if data is None:
        reader.seek(offset)
        data = reader.read(size)
    return data


def read_payload(reader, box: TopBox) -> bytes:
    return read_at(reader, box.payload, box.end - box.payload)


def read_moov(reader) -> Optional[bytes]:
    """The `moov` box's payload (None when there is none, it is cut short or too big), read
    once per clip; the reader's position is put back after (FFmpeg reads on from where it
    left the reader: PyAV does not seek before a read)."""
    position = reader.tell()
    try:
        file_size = reader.seek(0, 2)
        for box in top_level(reader, file_size):
            if box.type == b"moov":
                if box.cut or box.end - box.payload > MAX_MOOV_BYTES:
                    return None
                data = read_payload(reader, box)
                return data if len(data) == box.end - box.payload else None
        return None
    finally:
        reader.seek(position)


def boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload_start, box_end) of each box in data[start:end], walked as FFmpeg's
    mov_read_default walks them: a size of 0 runs to the parent's end, 1 reads a 64-bit size
    when there is room, a child that claims more than its parent holds is cut at the
    parent's end, and a size smaller than its header ends the walk."""
    return _walk(lambda at, size: data[at:at + size], start, end)


def file_boxes(reader, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """`boxes` for a span of a file: the same rules, reading only box headers (8 bytes each,
    16 with a 64-bit size)."""
    return _walk(lambda at, size: read_at(reader, at, size), start, end)


def _walk(read: Callable[[int, int], bytes], start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    total, room = 0, end - start
    while total <= room - 8:
        at = start + total
        header = read(at, 8)
        if len(header) < 8:
            return
        size, box_type = struct.unpack(">I4s", header)
        total += 8
        if size == 1 and total + 8 <= room:
            large = read(at + 8, 8)
            if len(large) < 8:
                return
            size = struct.unpack(">Q", large)[0] - 8
            total += 8
        if size == 0:
            size = room - total + 8
        size -= 8
        if size < 0:
            return
        size = min(size, room - total)
        yield box_type, start + total, start + total + size
        total += size


def tree(data: bytes, start: int, end: int, parent: bytes = b"moov") -> dict[bytes, list[Span]]:
    """Every box under data[start:end] by type (containers opened), as (payload, end) spans.

    Inside any container but the moov, FFmpeg stops at a trak or mdat ("not at top-level").
    """
    found: dict[bytes, list[Span]] = {}
    for box_type, payload, box_end in boxes(data, start, end):
        if parent != b"moov" and box_type in (b"trak", b"mdat"):
            break
        found.setdefault(box_type, []).append((payload, box_end))
        if box_type in CONTAINERS:
            for sub_type, spans in tree(data, payload, box_end, box_type).items():
                found.setdefault(sub_type, []).extend(spans)
    return found


def traks(moov: bytes) -> list[dict[bytes, list[Span]]]:
    """The boxes of each trak of a moov payload, in file order."""
    return [tree(moov, payload, end, b"trak") for box_type, payload, end in boxes(moov, 0, len(moov))
            if box_type == b"trak"]


def movie_timescale(moov: bytes) -> Optional[int]:
    """The mvhd time scale (None when the moov has no mvhd or several)."""
    spans = [(payload, end) for box_type, payload, end in boxes(moov, 0, len(moov)) if box_type == b"mvhd"]
    return timescale(moov, spans[0]) if len(spans) == 1 else None


def one(found: dict[bytes, list[Span]], box_type: bytes) -> Optional[Span]:
    """The box of that type when there is exactly one."""
    spans = found.get(box_type, ())
    return spans[0] if len(spans) == 1 else None


def scalar(data: bytes, span: Span, at: int, fmt: str) -> Optional[int]:
    """A field at `at` bytes into a box's payload, None when the box is too short for it."""
    start, end = span
    if start + at + struct.calcsize(fmt) > end:
        return None
    return struct.unpack_from(fmt, data, start + at)[0]


def full_box_array(data: bytes, span: Span, header: int, columns: int, dtype=U32) -> Optional[np.ndarray]:
    """The entries of a full box: version/flags, `header` more bytes, a u32 count, then rows.

    None when the box is too short for the count it states (FFmpeg would read on into the
    boxes that follow).
    """
    start, end = span
    count_at = start + 4 + header
    if count_at + 4 > end:
        return None
    count = struct.unpack_from(">I", data, count_at)[0]
    if count_at + 4 + count * columns * dtype.itemsize > end:
        return None
    return np.frombuffer(data, dtype, count * columns, count_at + 4).reshape(count, columns)


def entry_count(data: bytes, span: Optional[Span], header: int = 0) -> int:
    """The u32 entry count of a full box (0 when there is no box or it is too short)."""
    if span is None:
        return 0
    return scalar(data, span, 4 + header, ">I") or 0


def timescale(data: bytes, span: Optional[Span]) -> Optional[int]:
    """The time scale of an mvhd or mdhd box (after the version-dependent times)."""
    if span is None or span[0] >= span[1]:
        return None
    return scalar(data, span, 4 + (16 if data[span[0]] == 1 else 8), ">I")


def track_id(data: bytes, tkhd: Span) -> Optional[int]:
    start, end = tkhd
    if start + 4 > end:
        return None
    return scalar(data, tkhd, 4 + (16 if data[start] == 1 else 8), ">I")
