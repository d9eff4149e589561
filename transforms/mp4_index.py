"""The sample table of an MP4/MOV video track, read with numpy instead of through PyAV.

The header tier's timestamps come from the container index. PyAV hands it over
as one Python object per sample (`stream.index_entries`), and those hold decode
times only. The same numbers, and the composition offsets and edit list that
give presentation times, sit in the `moov` box as big-endian arrays (stts,
ctts, stss, stsz, stsc, stco/co64, elst), so reading them with `np.frombuffer`
costs tens of microseconds even for hours of video.

The result is meant to be exactly what FFmpeg's demuxer hands out packet by
packet (libavformat/mov.c: mov_read_stts, mov_read_ctts, mov_build_index,
mov_fix_index, mov_finalize_packet); the edit-list rules are in `mp4_edits`,
movie fragments in `mp4_fragments`. Where the stored table has something this
reader does not reproduce (several sample descriptions, a partial-sync table,
compact sizes, out-of-order sync samples, zero durations, ...) it returns the
reason instead, and the clip is demuxed. docs/header-tier.md lists the rules.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Union

import numpy as np

from transforms import mp4_boxes as mb
from transforms.mp4_boxes import read_moov  # noqa: F401 - the moov reader lives with the box walker

# FFmpeg's index keeps a sample's size in a signed 30-bit field (and mov_build_index stops at
# samples over 0x3FFFFFFF): past 512 MiB its index and the stored table no longer agree.
MAX_SAMPLE_BYTES = (1 << 29) - 1
# stts deltas FFmpeg keeps as they are (larger ones it treats as negative corrections).
MAX_DELTA = 2 ** 31


@dataclasses.dataclass
class SampleTable:
    """One entry per packet FFmpeg's demuxer returns for the track, in decode order."""

    dts: np.ndarray          # int64, in the track's time base
    pts: np.ndarray          # int64, presentation times
    duration: np.ndarray     # int64, each packet's duration (FFmpeg's packet.duration)
    pos: np.ndarray          # int64 byte offset of the sample in the file
    size_bytes: np.ndarray   # int64 (a sample cut by the end of the file: the bytes that exist)
    is_keyframe: np.ndarray  # bool (sync samples)
    is_discard: Optional[np.ndarray] = None  # bool, hidden by an edit list / overlap; None = none
    beyond_eof_count: int = 0   # samples listed past the end of the file (left out above)
    corrupt_count: int = 0      # 1 when the last sample is cut by the end of the file
    # What FFmpeg's own index (stream.index_entries) holds after open, for the cheap guard:
    # (timestamps, positions, sizes, flags as PyAV reads them), and the lengths it may have
    # (fragments read lazily grow it while demuxing; a cut fragment adds unreadable entries).
    index: Optional[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = None
    index_counts: frozenset = frozenset()
    index_open_ended: bool = False  # any length from max(index_counts) on is possible
    source_note: str = "sample table"   # or "fragment run tables"


@dataclasses.dataclass
class RawTrack:
    """A track's stored samples before FFmpeg's timeline rules (edit list, dts shift)."""

    durations: np.ndarray        # int64 stts delta of each sample
    offsets: Optional[np.ndarray]  # int64 ctts composition offset of each sample, None without ctts
    dts_shift: int               # FFmpeg's shift for negative composition offsets
    pos: np.ndarray
    sizes: np.ndarray
    keys: np.ndarray


def find_track(moov: bytes, track_id: int) -> Union[tuple[int, dict], str]:
    """(position among the traks, its boxes) of the trak with that id."""
    matches = [(number, found) for number, found in enumerate(mb.traks(moov))
               if len(found.get(b"tkhd", ())) == 1 and mb.track_id(moov, found[b"tkhd"][0]) == track_id]
    if len(matches) != 1:
        return "track not found" if not matches else "several tracks with one id"
    return matches[0]


def raw_track(moov: bytes, boxes: dict) -> Union[RawTrack, str]:
    """The stored sample table of one trak (its boxes from `mp4_boxes.tree`)."""
    for unusual in (b"stps", b"stz2"):
        if unusual in boxes:
            return f"{unusual.decode()} box"
    if _has_rap_group(moov, boxes):
        return "sbgp rap group"
    stsd, stts, stsz, stsc = (mb.one(boxes, t) for t in (b"stsd", b"stts", b"stsz", b"stsc"))
    offset_boxes = boxes.get(b"stco", []) + boxes.get(b"co64", [])
    if not all((stsd, stts, stsz, stsc)) or len(offset_boxes) != 1:
        return "incomplete sample table"
    if mb.scalar(moov, stsd, 4, ">I") != 1:
        return "several sample descriptions"
    sizes = _sizes(moov, stsz)
    if isinstance(sizes, str):
        return sizes
    durations = _durations(moov, stts, sizes.shape[0])
    if isinstance(durations, str):
        return durations
    offsets, dts_shift = _composition(moov, boxes, sizes.shape[0])
    if isinstance(offsets, str):
        return offsets
    positions = _positions(moov, stsc, offset_boxes[0], b"co64" in boxes, sizes)
    if isinstance(positions, str):
        return positions
    keys = _sync_samples(moov, boxes, sizes.shape[0])
    if isinstance(keys, str):
        return keys
    return RawTrack(durations, offsets, dts_shift, positions, sizes, keys)


def _sizes(moov: bytes, stsz) -> Union[np.ndarray, str]:
    sample_size = mb.scalar(moov, stsz, 4, ">I")
    count = mb.scalar(moov, stsz, 8, ">I")
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
        sizes = np.frombuffer(moov, mb.U32, count, start + 12).astype(np.int64)
    if int(sizes.max()) > MAX_SAMPLE_BYTES:
        return "a sample larger than FFmpeg's index can hold"
    if int(sizes.min()) == 0:
        return "a sample of size 0"  # FFmpeg demuxes it as an empty packet, which is not a frame
    return sizes


def _durations(moov: bytes, stts, count: int) -> Union[np.ndarray, str]:
    steps = mb.full_box_array(moov, stts, 0, 2)
    if steps is None or int(steps[:, 0].sum()) != count:
        return "stts does not cover every sample"
    deltas = steps[:, 1].astype(np.int64)
    if (deltas <= 0).any() or (deltas >= MAX_DELTA).any():
        return "zero or negative sample durations"
    if steps.shape[0] == 1:  # constant frame rate: one run
        return np.full(count, int(deltas[0]), np.int64)
    return np.repeat(deltas, steps[:, 0].astype(np.int64))


def _composition(moov: bytes, boxes: dict, count: int) -> tuple[Union[np.ndarray, str, None], int]:
    """(per-sample ctts offsets or None, dts_shift), as mov_read_ctts and the merge read them.

    Offsets are signed 32-bit whatever the box version; entries whose count is not a
    positive int32 are skipped; the shift is the largest negated negative offset among
    all entries but the last two (FFmpeg's rule, so a trailing odd entry does not move
    the whole track).
    """
    if b"ctts" not in boxes:
        return None, 0
    ctts = mb.one(boxes, b"ctts")
    rows = mb.full_box_array(moov, ctts, 0, 2) if ctts else None
    if rows is None:
        return "unreadable or several ctts boxes", 0
    if rows.shape[0] == 0:
        return None, 0
    counts = rows[:, 0].astype(np.int64)
    offsets = rows[:, 1].astype(np.uint32).view(np.int32).astype(np.int64)
    valid = (counts > 0) & (counts < 2 ** 31)  # a count that is not a positive int32 is skipped
    shifting = valid & (np.arange(rows.shape[0]) + 2 < rows.shape[0]) & (offsets < 0)
    dts_shift = int(-offsets[shifting].min()) if shifting.any() else 0
    dts_shift = min(dts_shift, 2 ** 31 - 1)  # INT_MIN is taken as INT_MIN + 1
    counts, offsets = counts[valid], offsets[valid]
    if counts.shape[0] == 0:
        return None, 0
    # Expand up to `count` samples without letting a huge run count allocate: cut the runs.
    ends = np.minimum(np.cumsum(counts), count)
    runs = np.diff(np.concatenate(([0], ends)))
    per_sample = np.repeat(offsets, runs)
    if per_sample.shape[0] < count:  # samples past the table get offset 0
        per_sample = np.concatenate((per_sample, np.zeros(count - per_sample.shape[0], np.int64)))
    return per_sample, dts_shift


def chunk_layout(moov: bytes, stsc, offsets_box, wide: bool) -> Union[tuple[np.ndarray, np.ndarray], str]:
    """(file offset, sample count) of each chunk, from stco/co64 and stsc."""
    offsets = mb.full_box_array(moov, offsets_box, 0, 1, mb.U64 if wide else mb.U32)
    runs = mb.full_box_array(moov, stsc, 0, 3)
    if offsets is None or runs is None or offsets.shape[0] == 0 or runs.shape[0] == 0:
        return "no chunk table"
    if wide and (offsets >= 2 ** 62).any():
        return "chunk offsets out of range"
    offsets = offsets[:, 0].astype(np.int64)
    chunks = offsets.shape[0]
    first = runs[:, 0].astype(np.int64)
    per_chunk = runs[:, 1].astype(np.int64)
    if first[0] != 1 or (np.diff(first) <= 0).any() or first[-1] > chunks or (per_chunk == 0).any() \
            or (runs[:, 2] != 1).any():
        return "unusual stsc"
    return offsets, np.repeat(per_chunk, np.diff(np.append(first, chunks + 1)))


def _positions(moov, stsc, offsets_box, wide: bool, sizes: np.ndarray) -> Union[np.ndarray, str]:
    layout = chunk_layout(moov, stsc, offsets_box, wide)
    if isinstance(layout, str):
        return layout
    offsets, chunk_samples = layout
    starts = np.cumsum(sizes) - sizes  # each sample's offset from the first sample's
    if int(chunk_samples.sum()) != sizes.shape[0]:
        return "stsc and stsz disagree on the sample count"
    if chunk_samples.shape[0] == 1:  # every sample in one chunk (common for remuxed clips)
        return starts + offsets[0]
    chunk_of = np.repeat(np.arange(chunk_samples.shape[0]), chunk_samples)
    chunk_first = np.cumsum(chunk_samples) - chunk_samples
    return offsets[chunk_of] + starts - starts[chunk_first][chunk_of]


def track_header_sane(moov: bytes, boxes: dict) -> bool:
    """mov_read_trak's sanity check; a track failing it is never demuxed (no packets at all)."""
    last = {t: (boxes[t][-1] if boxes.get(t) else None) for t in (b"stco", b"co64", b"stts", b"stsc", b"stsz")}
    chunks = mb.entry_count(moov, last[b"co64"] or last[b"stco"])
    stts, stsc = mb.entry_count(moov, last[b"stts"]), mb.entry_count(moov, last[b"stsc"])
    sample_size = mb.scalar(moov, last[b"stsz"], 4, ">I") if last[b"stsz"] else 0
    samples = mb.entry_count(moov, last[b"stsz"], 4)
    if chunks and (not stts or not stsc or (not sample_size and not samples)):
        return False
    return bool(chunks) or not samples


def samples_start_inside(moov: bytes, boxes: dict, file_size: int) -> bool:
    """Does every sample of this track start before the end of the file?

    FFmpeg's demuxer reads the tracks interleaved and stops at the first sample that
    starts past the end (whatever its track), so another track's lost samples can end
    the video's packets early. Chunks with a constant sample size are checked per chunk
    (hours of PCM audio have hundreds of millions of samples).
    """
    stsz, stsc = mb.one(boxes, b"stsz"), mb.one(boxes, b"stsc")
    offset_boxes = boxes.get(b"stco", []) + boxes.get(b"co64", [])
    if stsz is None and stsc is None and not offset_boxes:
        return True  # no samples at all
    sample_size, count = (mb.scalar(moov, stsz, 4, ">I"), mb.scalar(moov, stsz, 8, ">I")) if stsz else (0, None)
    if count == 0:
        return True
    if stsz is None or stsc is None or len(offset_boxes) != 1 or count is None:
        return False
    layout = chunk_layout(moov, stsc, offset_boxes[0], b"co64" in boxes)
    if isinstance(layout, str):
        return False
    offsets, chunk_samples = layout
    if int(chunk_samples.sum()) != count:
        return False
    if sample_size:
        last_starts = offsets + (chunk_samples - 1) * sample_size
        return int(last_starts.max()) < file_size
    sizes = _sizes(moov, stsz)
    if isinstance(sizes, str):
        return False
    positions = _positions(moov, stsc, offset_boxes[0], b"co64" in boxes, sizes)
    return not isinstance(positions, str) and int(positions.max()) < file_size


def _sync_samples(moov: bytes, boxes: dict, count: int) -> Union[np.ndarray, str]:
    stss = mb.one(boxes, b"stss")
    if stss is None:
        if b"stss" in boxes:
            return "several stss boxes"
        return np.ones(count, bool)  # no sync table: every sample is a sync sample
    numbers = mb.full_box_array(moov, stss, 0, 1)
    if numbers is None or numbers.shape[0] == 0:
        return "empty stss"  # FFmpeg then asks the codec parser which frames are keys
    numbers = numbers[:, 0].astype(np.int64)
    if numbers.min() < 1 or numbers.max() > count:
        return "stss names samples that do not exist"
    if numbers.shape[0] > 1 and (np.diff(numbers) <= 0).any():
        return "stss out of order"  # FFmpeg walks it in order and skips what is not
    keys = np.zeros(count, bool)
    keys[numbers - 1] = True
    return keys


def _has_rap_group(moov: bytes, boxes: dict) -> bool:
    """An sbgp 'rap ' table, which makes FFmpeg mark more samples as keyframes."""
    return any(mb.scalar(moov, span, 4, "4s") == b"rap " for span in boxes.get(b"sbgp", ()))


def sample_table(moov: bytes, track_id: int) -> Union[SampleTable, str]:
    """The packets FFmpeg demuxes for track `track_id` of a complete (unfragmented) file,
    or why this reader cannot promise that."""
    from transforms.mp4_edits import apply_timeline

    top = list(mb.boxes(moov, 0, len(moov)))
    if any(box_type == b"mvex" for box_type, _, _ in top):
        return "fragmented: samples live in movie fragments"
    found = find_track(moov, track_id)
    if isinstance(found, str):
        return found
    number, boxes = found
    raw = raw_track(moov, boxes)
    if isinstance(raw, str):
        return raw
    return apply_timeline(moov, number, boxes, raw)
