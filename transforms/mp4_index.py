"""The sample table of an MP4/MOV video track, read with numpy instead of through PyAV.

The header tier's timestamps come from the container index. PyAV hands it over
as one Python object per sample (`stream.index_entries`): for a one-minute 30 fps
clip that is 1,800 objects and four attribute reads each, about 0.9 ms, more than
FFmpeg's whole open. The same numbers sit in the `moov` box as big-endian arrays
(stts, stss, stsz, stsc, stco/co64), so reading them with `np.frombuffer` costs
tens of microseconds.

It is used only where FFmpeg's index is exactly the stored table: one sample
description, no composition offsets (ctts), no partial-sync table (stps), not
fragmented, and no edit list other than one edit that starts at media time 0
at normal rate and covers every sample (FFmpeg rebuilds the index through any
other edit list, dropping or hiding samples). Anything else returns a reason,
and the caller reads `stream.index_entries` as before. tests/test_mp4_index.py
checks the two agree on every kind of clip the oracle suite makes.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Iterator, Optional, Union

import numpy as np

# A moov this large (hours of 60 fps video have ~1-2 MB) is left to FFmpeg.
MAX_MOOV_BYTES = 64 * 1024 * 1024
_U32 = np.dtype(">u4")
_U64 = np.dtype(">u8")
# FFmpeg's index keeps a sample's size in a signed 30-bit field (and mov_build_index stops at
# samples over 0x3FFFFFFF): past 512 MiB its index and the stored table no longer agree.
_MAX_SAMPLE_BYTES = (1 << 29) - 1
_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts")


@dataclasses.dataclass
class SampleTable:
    """One entry per stored sample, in decode order."""

    dts: np.ndarray          # int64, in the track's time base
    pos: np.ndarray          # int64 byte offset of the sample in the file
    size_bytes: np.ndarray   # int64
    is_keyframe: np.ndarray  # bool


def read_moov(reader) -> Optional[bytes]:
    """The `moov` box's payload, found by walking the top-level box headers."""
    end = reader.seek(0, 2)
    offset = 0
    while offset + 8 <= end:
        reader.seek(offset)
        header = reader.read(16)
        if len(header) < 8:
            return None
        size, box_type = struct.unpack(">I4s", header[:8])
        payload = offset + 8
        if size == 1:
            if len(header) < 16:
                return None
            size = struct.unpack(">Q", header[8:16])[0]
            payload = offset + 16
        elif size == 0:
            size = end - offset
        if size < payload - offset:
            return None
        if box_type == b"moov":
            length = size - (payload - offset)
            if length > MAX_MOOV_BYTES or offset + size > end:
                return None
            reader.seek(payload)
            data = reader.read(length)
            return data if len(data) == length else None
        offset += size
    return None


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload_start, box_end) of each box in data[start:end]."""
    offset = start
    while offset + 8 <= end:
        size, box_type = struct.unpack_from(">I4s", data, offset)
        payload = offset + 8
        if size == 1:
            if offset + 16 > end:
                return
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            payload = offset + 16
        elif size == 0:
            size = end - offset
        if size < payload - offset or offset + size > end:
            return
        yield box_type, payload, offset + size
        offset += size


def _tree(data: bytes, start: int, end: int) -> dict[bytes, list[tuple[int, int]]]:
    """Every box under one trak, by type (containers opened), as (payload, end) spans."""
    found: dict[bytes, list[tuple[int, int]]] = {}
    for box_type, payload, box_end in _boxes(data, start, end):
        found.setdefault(box_type, []).append((payload, box_end))
        if box_type in _CONTAINERS:
            for sub_type, spans in _tree(data, payload, box_end).items():
                found.setdefault(sub_type, []).extend(spans)
    return found


def _track_id(data: bytes, tkhd: tuple[int, int]) -> Optional[int]:
    start, end = tkhd
    if start + 4 > end:
        return None
    version = data[start]
    at = start + 4 + (16 if version == 1 else 8)
    return struct.unpack_from(">I", data, at)[0] if at + 4 <= end else None


def _full_box_array(data: bytes, span: tuple[int, int], header: int, columns: int,
                    dtype=_U32) -> Optional[np.ndarray]:
    """The entries of a full box: version/flags, `header` more bytes, a u32 count, then rows."""
    start, end = span
    count_at = start + 4 + header
    if count_at + 4 > end:
        return None
    count = struct.unpack_from(">I", data, count_at)[0]
    nbytes = count * columns * dtype.itemsize
    if count_at + 4 + nbytes > end:
        return None
    return np.frombuffer(data, dtype, count * columns, count_at + 4).reshape(count, columns)


def _scalar(data: bytes, span: tuple[int, int], at: int, fmt: str) -> Optional[int]:
    start, end = span
    if start + at + struct.calcsize(fmt) > end:
        return None
    return struct.unpack_from(fmt, data, start + at)[0]


def sample_table(moov: bytes, track_id: int) -> Union[SampleTable, str]:
    """The sample table of track `track_id`, or why FFmpeg's index may differ from it."""
    top = list(_boxes(moov, 0, len(moov)))
    if any(box_type == b"mvex" for box_type, _, _ in top):
        return "fragmented: samples live in movie fragments"
    mvhd = next(((payload, end) for box_type, payload, end in top if box_type == b"mvhd"), None)
    for box_type, payload, box_end in top:
        if box_type != b"trak":
            continue
        boxes = _tree(moov, payload, box_end)
        if len(boxes.get(b"tkhd", ())) == 1 and _track_id(moov, boxes[b"tkhd"][0]) == track_id:
            return _track_table(moov, boxes, mvhd)
    return "track not found"


def _one(boxes, box_type: bytes) -> Optional[tuple[int, int]]:
    spans = boxes.get(box_type, ())
    return spans[0] if len(spans) == 1 else None


def _track_table(moov: bytes, boxes, mvhd) -> Union[SampleTable, str]:
    for unusual in (b"ctts", b"stps", b"stz2"):
        if unusual in boxes:
            return f"{unusual.decode()} box"
    stsd, stts, stsz, stsc, mdhd = (_one(boxes, t) for t in (b"stsd", b"stts", b"stsz", b"stsc", b"mdhd"))
    offset_boxes = boxes.get(b"stco", []) + boxes.get(b"co64", [])  # exactly one of the two
    if not all((stsd, stts, stsz, stsc, mdhd)) or len(offset_boxes) != 1:
        return "incomplete sample table"
    offsets_box = offset_boxes[0]
    if _scalar(moov, stsd, 4, ">I") != 1:
        return "several sample descriptions"

    sample_size = _scalar(moov, stsz, 4, ">I")
    count = _scalar(moov, stsz, 8, ">I")
    if sample_size is None or count is None or count == 0:
        return "no samples"
    if sample_size:
        if count > 100_000 + 16 * len(moov):  # a constant size lets a few bytes claim billions
            return "implausible sample count"
        sizes = np.full(count, sample_size, np.int64)
    else:
        start, end = stsz
        if start + 12 + 4 * count > end:
            return "short stsz"
        sizes = np.frombuffer(moov, _U32, count, start + 12).astype(np.int64)
    if int(sizes.max()) > _MAX_SAMPLE_BYTES:
        return "a sample larger than FFmpeg's index can hold"

    steps = _full_box_array(moov, stts, 0, 2)
    if steps is None or int(steps[:, 0].sum()) != count:
        return "stts does not cover every sample"
    if steps.shape[0] == 1:  # constant frame rate: one run
        delta = int(steps[0, 1])
        if not 0 < delta < 2 ** 31:
            return "zero or negative sample durations"
        dts = np.arange(0, count * delta, delta, dtype=np.int64)
    else:
        deltas = steps[:, 1].astype(np.int64)
        if (deltas <= 0).any() or (deltas >= 2 ** 31).any():
            return "zero or negative sample durations"
        durations = np.repeat(deltas, steps[:, 0].astype(np.int64))
        dts = np.zeros(count, np.int64)
        np.cumsum(durations[:-1], out=dts[1:])

    positions = _positions(moov, stsc, offsets_box, b"co64" in boxes, sizes)
    if isinstance(positions, str):
        return positions

    stss = _one(boxes, b"stss")
    if stss is None:
        if b"stss" in boxes:
            return "several stss boxes"
        keys = np.ones(count, bool)
    else:
        numbers = _full_box_array(moov, stss, 0, 1)
        if numbers is None or numbers.shape[0] == 0:
            return "empty stss"
        numbers = numbers[:, 0].astype(np.int64)
        if numbers.min() < 1 or numbers.max() > count:
            return "stss names samples that do not exist"
        if numbers.shape[0] > 1 and (np.diff(numbers) <= 0).any():
            return "stss out of order"  # FFmpeg walks it in order and skips what is not
        keys = np.zeros(count, bool)
        keys[numbers - 1] = True

    edit = _edit_problem(moov, boxes, mvhd, mdhd, int(dts[-1]))
    if edit:
        return edit
    return SampleTable(dts=dts, pos=positions, size_bytes=sizes, is_keyframe=keys)


def _positions(moov, stsc, offsets_box, wide: bool, sizes: np.ndarray) -> Union[np.ndarray, str]:
    offsets = _full_box_array(moov, offsets_box, 0, 1, _U64 if wide else _U32)
    runs = _full_box_array(moov, stsc, 0, 3)
    if offsets is None or runs is None or offsets.shape[0] == 0 or runs.shape[0] == 0:
        return "no chunk table"
    offsets = offsets[:, 0].astype(np.int64)
    chunks = offsets.shape[0]
    starts = np.cumsum(sizes) - sizes  # each sample's offset from the first sample's
    if runs.shape[0] == 1 and chunks == 1:  # every sample in one chunk (common for remuxed clips)
        if runs[0, 0] != 1 or runs[0, 2] != 1 or int(runs[0, 1]) != sizes.shape[0]:
            return "stsc and stsz disagree on the sample count"
        return starts + offsets[0]
    first = runs[:, 0].astype(np.int64)
    per_chunk = runs[:, 1].astype(np.int64)
    if first[0] != 1 or (np.diff(first) <= 0).any() or first[-1] > chunks or (per_chunk == 0).any() \
            or (runs[:, 2] != 1).any():
        return "unusual stsc"
    run_chunks = np.diff(np.append(first, chunks + 1))
    chunk_samples = np.repeat(per_chunk, run_chunks)
    if int(chunk_samples.sum()) != sizes.shape[0]:
        return "stsc and stsz disagree on the sample count"
    chunk_of = np.repeat(np.arange(chunks), chunk_samples)
    chunk_first = np.cumsum(chunk_samples) - chunk_samples
    return offsets[chunk_of] + starts - starts[chunk_first][chunk_of]


def _edit_problem(moov, boxes, mvhd, mdhd, last_dts: int) -> Optional[str]:
    """None when FFmpeg keeps the stored table as it is (no edit list, or one plain edit)."""
    if b"elst" not in boxes:
        return None
    elst = _one(boxes, b"elst")
    if elst is None or mvhd is None:
        return "several edit lists"
    version = moov[elst[0]]
    entries = _full_box_array(moov, elst, 0, 5 if version == 1 else 3)
    if entries is None or entries.shape[0] != 1:
        return "edit list with several edits"
    if version == 1:
        row = entries[0]
        duration = (int(row[0]) << 32) | int(row[1])
        media_time = (int(row[2]) << 32) | int(row[3])
        rate = int(row[4])
    else:
        duration, media_time, rate = (int(v) for v in entries[0])
    if media_time != 0 or rate != 0x00010000:
        return "edit list starts inside the media or changes the rate"
    movie_scale = _scalar(moov, mvhd, 4 + (16 if moov[mvhd[0]] == 1 else 8), ">I")
    media_scale = _scalar(moov, mdhd, 4 + (16 if moov[mdhd[0]] == 1 else 8), ">I")
    if not movie_scale or not media_scale:
        return "no timescale"
    # FFmpeg rescales the edit with rounding, then stops at the first keyframe past its end.
    edit_end = (duration * media_scale + movie_scale // 2) // movie_scale
    if edit_end <= last_dts:
        return "edit list ends before the last sample"
    return None
