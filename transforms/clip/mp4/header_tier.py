"""The header tier for MP4/MOV: the video track's packets from the moov (and fragments).

`sample_table_of` picks the reader (stored sample table, or movie fragments), turns
anything unexpected in the bytes into a reason instead of an exception, and
guards the result against FFmpeg's own index (`stream.index_entries`): its
length and its first and last entries must be what the table says FFmpeg
built. Comparing every entry is what reading the table saves; these few catch
a track FFmpeg read differently (a refused sample description, a mangled box
it parsed another way). A reason means the caller demuxes instead.
"""

from __future__ import annotations

import struct
from typing import Optional, Union

from transforms.clip.mp4 import boxes as mb
from transforms.clip.mp4.fragmented import fragment_table
from transforms.clip.mp4.chunks import samples_start_inside
from transforms.clip.mp4.sample_table import SampleTable, sample_table

# Codecs whose packets FFmpeg's mov demuxer hands out sample for sample. Others may go
# through a full parser that splits or joins samples (MPEG-1/2 video, VC-1), or were not
# checked against FFmpeg; they are demuxed.
SAMPLE_FOR_SAMPLE_CODECS = frozenset((
    "h264", "hevc", "mpeg4", "mjpeg", "prores", "dnxhd", "h263", "av1", "vp9", "rawvideo",
    "png", "qtrle", "dvvideo", "cfhd", "hap", "jpeg2000",
))


_MP4_BOX_TYPES = (b"ftyp", b"moov", b"free", b"skip", b"wide", b"mdat", b"styp", b"sidx", b"uuid")


def looks_fragmented(reader, file_size: int, boxes: int = 8) -> bool:
    """Does a movie fragment follow among the first top-level boxes? (A few 16-byte reads;
    the reader is put back at the start, where FFmpeg begins.)"""
    try:
        for number, box in enumerate(mb.iter_top_level(reader, file_size)):
            if box.type == b"moof":
                return True
            if number >= boxes or (number == 0 and box.type not in _MP4_BOX_TYPES):
                return False
        return False
    finally:
        reader.seek(0)


def sample_table_of(reader, stream, file_size: int, moov: Optional[bytes]) -> Union[SampleTable, str]:
    """The video stream's packets as FFmpeg demuxes them, or why they cannot be promised."""
    if moov is None:
        return "no complete moov"
    codec = stream.codec_context.name if stream.codec_context else None
    if codec not in SAMPLE_FOR_SAMPLE_CODECS:
        return f"codec {codec} not checked against FFmpeg's packets"
    position = reader.tell()
    try:
        if any(box_type == b"mvex" for box_type, _, _ in mb.boxes(moov, 0, len(moov))):
            table = fragment_table(reader, mb.top_level(reader, file_size), moov, stream.id, file_size)
        else:
            traks = mb.traks(moov)
            table = sample_table(moov, stream.id, traks)
            if isinstance(table, SampleTable) and not _other_tracks_inside(moov, traks, stream.id, file_size, table):
                return "another track lists samples past the end of the file"
    except (ValueError, struct.error, IndexError, OverflowError):  # damaged beyond the checks
        return "unreadable sample table"
    finally:
        reader.seek(position)
    if isinstance(table, str):
        return table
    return table if agrees_with_index(table, stream.index_entries) else "FFmpeg's index differs from the table"


def _other_tracks_inside(moov: bytes, traks: list[dict], track_id: int, file_size: int, table: SampleTable) -> bool:
    """Do the other tracks' samples all start inside the file? (FFmpeg stops demuxing every
    track at the first sample that does not.) Not asked when the video's own samples run
    past the end: the tier refuses that table anyway, as a cut file."""
    if int((table.pos + table.size_bytes).max()) > file_size:
        return True
    for boxes in traks:
        tkhd = mb.one(boxes, b"tkhd")
        if tkhd is not None and mb.track_id(moov, tkhd) == track_id:
            continue
        if not samples_start_inside(moov, boxes, file_size):
            return False
    return True


def agrees_with_index(table: SampleTable, entries) -> bool:
    """Cheap check against FFmpeg's index: its length and its first and last entries."""
    count = len(entries)
    if table.index is None or count == 0:
        return False
    if count not in table.index_counts and not (table.index_open_ended and count >= max(table.index_counts)):
        return False
    timestamps, positions, sizes, keys, discard = table.index
    for i in {0, min(count, timestamps.shape[0]) - 1}:
        entry = entries[i]
        flags = int(keys[i]) + (2 if discard is not None and discard[i] else 0)
        # AVIndexEntry.flags is a 2-bit bit-field: PyAV reads discard (2) as -2, both as -1.
        expected = (int(timestamps[i]), int(positions[i]), int(sizes[i]), ((flags + 2) % 4) - 2)
        if (entry.timestamp, entry.pos, entry.size, entry.flags) != expected:
            return False
    return True
