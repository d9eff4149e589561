"""The sample table of an MP4/MOV video track, read with numpy instead of through PyAV.

The header tier's timestamps come from the container index. PyAV hands it over
as one Python object per sample (`stream.index_entries`), and those hold decode
times only. The same numbers, and the composition offsets and edit list that
give presentation times, sit in the `moov` box as big-endian arrays (stts,
ctts, stss, stsz, stsc, stco/co64, elst), so reading them with `np.frombuffer`
costs tens of microseconds even for hours of video.

The result is meant to be exactly what FFmpeg's demuxer hands out packet by
packet (libavformat/mov.c: mov_read_stts, mov_read_ctts, mov_build_index,
mov_fix_index, mov_finalize_packet); the edit-list rules are in `edit_list`,
movie fragments in `moof` and `trun`. Where the stored table has something this
reader does not reproduce (several sample descriptions, a partial-sync table,
compact sizes, out-of-order sync samples, zero durations, ...) it returns the
reason instead, and the clip is demuxed. docs/header-tier.md lists the rules.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from transforms.clip.mp4 import boxes as mb
from transforms.clip.mp4.chunks import sample_positions, sample_sizes
from transforms.clip.mp4.edit_list import apply_timeline
from transforms.clip.mp4.track import RawTrack, SampleTable

# stts deltas FFmpeg keeps as they are (larger ones it treats as negative corrections).
MAX_DELTA = 2 ** 31



def find_track(moov: bytes, track_id: int, traks: list[dict]) -> Union[tuple[int, dict], str]:
    """(position among the traks, its boxes) of the trak with that id."""
    matches = [(number, found) for number, found in enumerate(traks)
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
    sizes = sample_sizes(moov, stsz)
    if isinstance(sizes, str):
        return sizes
    durations = _durations(moov, stts, sizes.shape[0])
    if isinstance(durations, str):
        return durations
    offsets, dts_shift = _composition(moov, boxes, sizes.shape[0])
    if isinstance(offsets, str):
        return offsets
    positions = sample_positions(moov, stsc, offset_boxes[0], b"co64" in boxes, sizes)
    if isinstance(positions, str):
        return positions
    keys = _sync_samples(moov, boxes, sizes.shape[0])
    if isinstance(keys, str):
        return keys
    return RawTrack(durations, offsets, dts_shift, positions, sizes, keys)


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
    entries = rows.shape[0]
    counts = rows[:, 0].astype(np.int64)
    offsets = rows.view(">i4")[:, 1].astype(np.int64)  # the same bytes read as signed
    valid = (counts > 0) & (counts < 2 ** 31)  # a count that is not a positive int32 is skipped
    negative = offsets[:max(0, entries - 2)][valid[:max(0, entries - 2)]]  # the last two never shift
    dts_shift = min(-int(negative.min()), 2 ** 31 - 1) if negative.size and negative.min() < 0 else 0
    if not valid.all():
        counts, offsets = counts[valid], offsets[valid]
        if counts.shape[0] == 0:
            return None, 0
    total = int(counts.sum())
    if total == count:  # the usual table: one offset per sample, nothing to cut or pad
        return (offsets if entries == count else np.repeat(offsets, counts)), dts_shift
    # Expand up to `count` samples without letting a huge run count allocate: cut the runs.
    ends = np.minimum(np.cumsum(counts), count)
    per_sample = np.repeat(offsets, np.diff(ends, prepend=0))
    if per_sample.shape[0] < count:  # samples past the table get offset 0
        per_sample = np.concatenate((per_sample, np.zeros(count - per_sample.shape[0], np.int64)))
    return per_sample, dts_shift


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


def _has_rap_group(moov: bytes, boxes: dict) -> bool:
    """An sbgp 'rap ' table, which makes FFmpeg mark more samples as keyframes."""
    return any(mb.scalar(moov, span, 4, "4s") == b"rap " for span in boxes.get(b"sbgp", ()))


def sample_table(moov: bytes, track_id: int, traks: Optional[list[dict]] = None) -> Union[SampleTable, str]:
    """The packets FFmpeg demuxes for track `track_id` of a complete (unfragmented) file,
    or why this reader cannot promise that."""

    top = list(mb.boxes(moov, 0, len(moov)))
    if any(box_type == b"mvex" for box_type, _, _ in top):
        return "fragmented: samples live in movie fragments"
    traks = mb.traks(moov) if traks is None else traks
    found = find_track(moov, track_id, traks)
    if isinstance(found, str):
        return found
    number, boxes = found
    raw = raw_track(moov, boxes)
    if isinstance(raw, str):
        return raw
    return apply_timeline(moov, traks, number, raw)
