"""FFmpeg's timeline rules for a stored MP4 track: dts shift and edit list.

What FFmpeg's mov demuxer hands out is not the stored table as it is
(libavformat/mov.c, mov_build_index and mov_fix_index):

* decode times start at minus the "dts shift" (the largest negative
  composition offset), so that pts = dts + shift + offset is never below dts;
* with an edit list, FFmpeg (its default "advanced" mode) rebuilds the index:
  it starts at the last sync sample presented at or before the edit's
  media time, marks every sample presented outside the edit "discard" (stored,
  demuxed, counted, never shown), stops after the first sync sample past the
  edit's end (the second one when there are composition offsets, for trailing
  B-frames), and renumbers decode times from the edit's start; an empty first
  edit delays everything by its duration; then all times move so that the
  first shown frame is presented at the empty edits' total (usually 0).
* a track of an earlier trak with no samples at all switches that mode off
  for the rest of the file, and then only the first edit's start shifts times.

Only edit lists of zero or more empty edits followed by one edit are rebuilt
here; anything longer makes FFmpeg repeat or drop stretches of samples, and is
left to the demuxer. Everything is vectorised: no loop over samples.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from transforms.clip.mp4 import boxes as mb
from transforms.clip.mp4.track import RawTrack, SampleTable

_LIMIT = 2 ** 62  # times beyond this could overflow FFmpeg's int64 arithmetic


def rescale(value: int, num: int, den: int) -> int:
    """av_rescale: value * num / den rounded to nearest, halves away from zero."""
    sign = -1 if value < 0 else 1
    return sign * ((abs(value) * num + den // 2) // den)


def edit_entries(moov: bytes, boxes: dict) -> Union[list[tuple[int, int]], str]:
    """(segment duration in the movie time scale, media time) of each edit, as mov_read_elst reads them."""
    spans = boxes.get(b"elst", [])
    if not spans:
        return []
    if len(spans) > 1:
        return "several edit lists"
    start, end = spans[0]
    if end - start < 8:
        return "short elst"
    version = moov[start]
    size = 20 if version == 1 else 12
    count = mb.scalar(moov, spans[0], 4, ">I")
    body = end - start - 8
    if body != count * size:  # FFmpeg trusts the box size over the count when they disagree
        count = body // size
    rows = np.frombuffer(moov, np.uint8, count * size, start + 8).reshape(count, size)
    if version == 1:
        durations = rows[:, 0:8].copy().view(">i8")[:, 0]
        times = rows[:, 8:16].copy().view(">i8")[:, 0]
    else:
        durations = rows[:, 0:4].copy().view(">u4")[:, 0]
        times = rows[:, 4:8].copy().view(">i4")[:, 0]
    return [(int(d), int(t)) for d, t in zip(durations, times)]  # a handful of edits


def advanced_editlist(moov: bytes, track_number: int, traks: list[dict]) -> bool:
    """FFmpeg's `advanced_editlist` when it builds this track's index.

    mov_read_trak turns it off, for every later track too, on a track with no
    chunks, no sizes and no stts entries (the empty tracks of a fragmented file).
    """
    for found in traks[:track_number + 1]:
        last = {t: (found[t][-1] if found.get(t) else None) for t in (b"stco", b"co64", b"stts", b"stsz", b"stz2")}
        chunks = mb.entry_count(moov, last[b"co64"] or last[b"stco"])
        samples = mb.entry_count(moov, last[b"stsz"], 4) or mb.entry_count(moov, last[b"stz2"], 4)
        if not chunks and not samples and not mb.entry_count(moov, last[b"stts"]):
            return False
    return True


def apply_timeline(moov: bytes, traks: list[dict], track_number: int, raw: RawTrack) -> Union[SampleTable, str]:
    """The packets FFmpeg demuxes from a stored track: dts shift and edit list applied."""
    boxes = traks[track_number]
    edits = edit_entries(moov, boxes)
    if isinstance(edits, str):
        return edits
    media_dts = np.zeros(raw.sizes.shape[0], np.int64)
    np.cumsum(raw.durations[:-1], out=media_dts[1:])
    if int(media_dts[-1]) >= _LIMIT:
        return "times out of range"
    if not edits:
        return _table(raw, media_dts - raw.dts_shift, slice(None), raw.durations, None)
    movie_scale = _scale(mb.movie_timescale(moov))
    media_scale = _scale(mb.timescale(moov, mb.one(boxes, b"mdhd")))
    if movie_scale is None or media_scale is None:
        return "no or several mvhd/mdhd boxes"
    if not advanced_editlist(moov, track_number, traks):
        return _first_edit_shift(raw, media_dts, edits, media_scale, movie_scale)
    return _rebuilt(raw, media_dts, edits, media_scale, movie_scale)


def _scale(value: Optional[int]) -> Optional[int]:
    if value is None:
        return None
    return value if 0 < value < 2 ** 31 else 1  # FFmpeg takes an invalid time scale as 1


def first_edit_offset(edits, media_scale: int, movie_scale: int) -> int:
    """mov_build_index's time_offset: the first edit's media time minus a leading empty edit."""
    empty, start_time, first = 0, 0, 0
    for number, (duration, time) in enumerate(edits):
        if number == 0 and time == -1:
            empty, first = duration, 1
        elif number == first and time >= 0:
            start_time = time
    return start_time - rescale(empty, media_scale, movie_scale) if (empty or start_time) else 0


def _first_edit_shift(raw: RawTrack, media_dts: np.ndarray, edits, media_scale: int,
                      movie_scale: int) -> Union[SampleTable, str]:
    """mov_build_index without mov_fix_index: the first edit only moves the decode times."""
    offset = first_edit_offset(edits, media_scale, movie_scale)
    if abs(offset) >= _LIMIT:
        return "edit list out of range"
    return _table(raw, media_dts - offset - raw.dts_shift, slice(None), raw.durations, None)


def _rebuilt(raw: RawTrack, media_dts: np.ndarray, edits, media_scale: int,
             movie_scale: int) -> Union[SampleTable, str]:
    """mov_fix_index for leading empty edits plus one edit (see the module doc)."""
    empty_ts = 0
    while edits and edits[0][1] == -1:
        empty_ts += rescale(edits[0][0], media_scale, movie_scale)
        edits = edits[1:]
    if len(edits) != 1:
        return "edit list with several edits" if edits else "edit list with empty edits only"
    duration, media_time = rescale(edits[0][0], media_scale, movie_scale), edits[0][1]
    if media_time < 0 or not 0 < duration < _LIMIT or media_time >= _LIMIT or not 0 <= empty_ts < _LIMIT:
        return "edit list out of range"
    shift = raw.dts_shift
    offsets = raw.offsets if raw.offsets is not None else np.zeros_like(media_dts)
    presented = media_dts + offsets  # each sample's presentation time on the media timeline
    start = _first_kept(raw, media_dts, presented, media_time, shift)
    count = raw.sizes.shape[0]
    step = np.append(raw.durations[:-1], duration)  # FFmpeg's frame_duration (the last: the edit's)
    inside = (presented >= media_time) & (presented < media_time + duration)
    past_end = np.flatnonzero(raw.keys[start:] & (presented[start:] + step[start:] >= media_time + duration))
    stops_at = 1 if raw.offsets is not None else 0  # with B-frames FFmpeg waits for a second sync sample
    last = int(past_end[stops_at]) + start if past_end.shape[0] > stops_at else count - 1
    kept = slice(start, last + 1)  # FFmpeg's rebuilt index: one contiguous run of samples
    shown = np.flatnonzero(inside[kept])
    if shown.shape[0] == 0:
        return "edit list shows no sample"
    first_shown = start + int(shown[0])
    dts = (empty_ts - shift) + media_dts[kept] - media_dts[first_shown]
    corrected = _min_corrected(dts[shown] + offsets[kept][shown] + shift) - empty_ts
    if corrected > 0:
        dts -= corrected
    # FFmpeg rebuilds its duration table from the found start with composition offsets,
    # but from the first sample without them (its search leaves that index at 0).
    durations = raw.durations[kept] if raw.offsets is not None else raw.durations[:last + 1 - start]
    discard = ~inside[kept]
    return _table(raw, dts, kept, durations, discard if discard.any() else None)


def _first_kept(raw: RawTrack, media_dts: np.ndarray, presented: np.ndarray, media_time: int,
                shift: int) -> int:
    """find_prev_closest_index: the sample FFmpeg's rebuilt index starts from."""
    before = int(np.searchsorted(media_dts - shift, media_time - shift, side="right")) - 1
    if before < 0:
        return 0
    if raw.offsets is not None:  # a sync sample presented at or before the edit start
        fits = np.flatnonzero(raw.keys[:before + 1] & (presented[:before + 1] <= media_time))
        return int(fits[-1]) if fits.shape[0] else 0
    keys = np.flatnonzero(raw.keys[:before + 1])
    return int(keys[-1]) if keys.shape[0] else before


def _min_corrected(values: np.ndarray) -> int:
    """FFmpeg's min_corrected_pts: a running minimum that restarts whenever it is negative."""
    if values.shape[0] == 0:
        return -1
    negative = np.flatnonzero(values < 0)
    if negative.shape[0] == 0:
        return int(values.min())
    last = int(negative[-1])
    return int(values[last]) if last == values.shape[0] - 1 else int(values[last + 1:].min())


def _table(raw: RawTrack, dts: np.ndarray, kept: slice, durations: np.ndarray,
           discard: Optional[np.ndarray]) -> SampleTable:
    pts = dts + raw.dts_shift + raw.offsets[kept] if raw.offsets is not None else dts
    keys, sizes, positions = raw.keys[kept], raw.sizes[kept], raw.pos[kept]
    return SampleTable(dts=dts, pts=pts, duration=durations, pos=positions, size_bytes=sizes,
                       is_keyframe=keys, is_discard=discard, index=(dts, positions, sizes, keys, discard),
                       index_counts=frozenset((dts.shape[0],)))
