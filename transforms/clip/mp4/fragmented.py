"""A fragmented MP4 file as a whole: its moov, its fragments in order, its sidx, its end.

* The moov may list samples of its own before the first fragment
  (`ffmpeg -movflags frag_keyframe` without empty_moov); they come first.
* An edit list in an empty-moov file only moves decode times by the first
  edit's start (FFmpeg switches its edit-list rebuilding off for fragments).
* A sidx that indexes every fragment makes FFmpeg read the fragments one by
  one while demuxing instead of all at open; the result is the same unless
  later fragments raise the dts shift, or data sits past the next moof, or the
  file is cut, and those are refused.
* Where the file ends early, FFmpeg's demuxer reads the tracks interleaved
  and stops at the first sample that starts past the end: the video keeps its
  samples up to its own first lost one, when FFmpeg reads them all before
  another track's first lost sample (else the file is demuxed).
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Optional, Union

import numpy as np

from transforms.clip.mp4 import boxes as mb
from transforms.clip.mp4.edit_list import edit_entries, first_edit_offset, rescale
from transforms.clip.mp4.trun import Decline, Run, assemble
from transforms.clip.mp4.moof import FragmentReader, Track
from transforms.clip.mp4.chunks import samples_start_inside
from transforms.clip.mp4.sample_table import SampleTable, find_track, raw_track, track_header_sane

_AV_TIME_BASE = 1_000_000


def fragment_table(reader, tops: list[mb.TopBox], moov: bytes, track_id: int,
                   file_size: int) -> Union[SampleTable, str]:
    """The packets FFmpeg demuxes for `track_id` of a fragmented file, or why not."""
    try:
        return _fragment_table(reader, tops, moov, track_id, file_size)
    except Decline as reason:
        return str(reason)


def _fragment_table(reader, tops, moov: bytes, track_id: int, file_size: int) -> Union[SampleTable, str]:
    traks = mb.traks(moov)
    found = find_track(moov, track_id, traks)
    if isinstance(found, str):
        return found
    number, boxes = found
    frags = FragmentReader(moov, track_id, file_size, _tracks(moov, traks, track_id, file_size))
    head = _moov_samples(moov, boxes, frags)
    if isinstance(head, str):
        return head
    moov_at = next(i for i, box in enumerate(tops) if box.type == b"moov")
    if any(box.type == b"moof" for box in tops[:moov_at]):
        return "movie fragment before the moov"
    moofs = [box for box in tops[moov_at + 1:] if box.type == b"moof"]
    lazy = _sidx_complete(reader, tops, moov_at, file_size, frags)
    if lazy is not None and lazy != {box.payload - 8 for box in moofs}:
        return "sidx and movie fragments disagree"
    for fragment, box in enumerate(moofs):
        frags.read_moof(mb.read_payload(reader, box), box.payload - 8, box.cut, fragment)
    table = assemble(head, frags.runs, frags.dts_shift, file_size, _data_ends(tops) if lazy is not None else None)
    if isinstance(table, str):
        return table
    cut = any(box.cut and box.type in (b"moof", b"mdat") for box in tops[moov_at + 1:])
    if cut and lazy is not None:
        return "indexed fragments cut short"
    if cut and not table.beyond_eof_count:
        # The last fragment's moof or mdat is cut: samples are lost even where no run says how many.
        table = dataclasses.replace(table, beyond_eof_count=1)
    return _stop_where_ffmpeg_stops(table, frags)


def _data_ends(tops: list[mb.TopBox]) -> list[Optional[int]]:
    """For each moof, where the mdat after it ends: FFmpeg reading fragments one by one stops
    there and cuts any sample that runs past it (next_root_atom)."""
    ends: list[Optional[int]] = []
    for box in tops:
        if box.type == b"moof":
            ends.append(None)
        elif box.type == b"mdat" and ends and ends[-1] is None:
            ends[-1] = box.end
    return ends


def _tracks(moov: bytes, traks: list[dict], track_id: int, file_size: int) -> dict[int, Track]:
    """Every track's time scale, edit-list offset and codec; the other tracks' own moov
    samples must all start inside the file (else FFmpeg stops early; not followed here)."""
    movie = mb.movie_timescale(moov)
    tracks: dict[int, Track] = {}
    for boxes in traks:
        tkhd = mb.one(boxes, b"tkhd")
        number = mb.track_id(moov, tkhd) if tkhd is not None else None
        if number is None or number in tracks:
            continue
        scale = mb.timescale(moov, mb.one(boxes, b"mdhd"))
        stsd = mb.one(boxes, b"stsd")
        fourcc = moov[stsd[0] + 12:stsd[0] + 16] if stsd and stsd[0] + 16 <= stsd[1] else b""
        tracks[number] = Track(timescale=scale if scale and scale < 2 ** 31 else 1, audio_codec=fourcc,
                               single_stsd=mb.entry_count(moov, stsd) == 1)
        if number == track_id and not tracks[number].single_stsd:
            raise Decline("several sample descriptions")
        edits = edit_entries(moov, boxes)
        if edits and not isinstance(edits, str) and movie:
            tracks[number].time_offset = first_edit_offset(edits, tracks[number].timescale, movie)
        if number != track_id and not samples_start_inside(moov, boxes, file_size):
            raise Decline("another track lists samples past the end of the file")
    return tracks


def _moov_samples(moov: bytes, boxes: dict, frags: FragmentReader) -> Union[Run, str, None]:
    """Samples the moov itself lists before the fragments, as a Run; sets the track's end."""
    if not track_header_sane(moov, boxes):
        return "track header FFmpeg rejects"
    edits = edit_entries(moov, boxes)
    if isinstance(edits, str):
        return edits
    track = frags.tracks[frags.track_id]
    if not mb.entry_count(moov, mb.one(boxes, b"stts")):
        return None
    if edits:
        return "edit list over samples in both the moov and fragments"
    raw = raw_track(moov, boxes)
    if isinstance(raw, str):
        return raw
    durations = raw.durations
    dts = np.zeros(durations.shape[0], np.int64)
    np.cumsum(durations[:-1], out=dts[1:])
    track.track_end = int(dts[-1] + durations[-1])
    offsets = raw.offsets if raw.offsets is not None else np.zeros_like(dts)
    frags.dts_shift = raw.dts_shift
    frags.last_dts = int(dts[-1]) - raw.dts_shift
    return Run(dts=dts - raw.dts_shift, duration=durations, offsets=offsets, pos=raw.pos, size=raw.sizes,
               keys=raw.keys, fragment=-1, dts_shift=raw.dts_shift)


def _stop_where_ffmpeg_stops(table: SampleTable, frags: FragmentReader) -> Union[SampleTable, str]:
    """A cut file where another track loses samples too: the table stands only when FFmpeg
    reads every kept video sample before reaching the other track's first lost one.

    mov_find_next_sample picks the lower file position between samples less than a second
    apart (a kept sample is always before a lost one), else the lower decode time. How many
    lost samples a demux then steps over depends on whether the probing at open hit them,
    so a table that depends on it is refused.
    """
    lost = [rescale(track.first_lost, _AV_TIME_BASE, track.timescale)
            for number, track in frags.tracks.items() if number != frags.track_id and track.first_lost is not None]
    if not lost:
        return table
    scale = frags.tracks[frags.track_id].timescale
    last_us = rescale(int(table.dts.max()), _AV_TIME_BASE, scale)
    if last_us - min(lost) > _AV_TIME_BASE:
        return "a cut file whose other tracks end the demux first"
    return table


def _sidx_complete(reader, tops, moov_at: int, file_size: int, frags: FragmentReader) -> Optional[set]:
    """The moof offsets a sidx lists when it indexes every fragment (FFmpeg then reads the
    fragments one by one while demuxing), else None (it reads them all at open)."""
    complete, offsets = False, set()
    for box in tops[moov_at + 1:]:
        if box.type != b"sidx":
            continue
        found = _sidx_offsets(mb.read_payload(reader, box), box.end, frags)
        if found is None:
            continue
        frags.has_sidx = True
        ends = found.pop()
        offsets |= set(found)
        if ends == file_size:
            complete = True
        elif file_size >= 4:
            mfra_size = struct.unpack(">I", mb.read_at(reader, file_size - 4, 4))[0]
            complete = complete or ends == file_size - mfra_size
    return offsets if complete else None


def _sidx_offsets(data: bytes, box_end: int, frags: FragmentReader) -> Optional[list[int]]:
    """The moof offsets a sidx references and, last, where they end; None when FFmpeg
    ignores the sidx."""
    if len(data) < 12 or data[0] > 1:
        return None
    reference = struct.unpack_from(">I", data, 4)[0]
    if reference not in frags.tracks:
        return None
    first_fields = ">QQ" if data[0] else ">II"
    at = 12 + struct.calcsize(first_fields)
    if struct.unpack_from(">I", data, 8)[0] == 0 or len(data) < at + 4:
        raise Decline("unusable sidx")
    _pts, first_offset = struct.unpack_from(first_fields, data, 12)
    count = struct.unpack_from(">H", data, at + 2)[0]
    items = np.frombuffer(data, mb.U32, 3 * count, at + 4) if len(data) >= at + 4 + 12 * count else None
    if count == 0 or items is None or (items[0::3] & 0x80000000).any():
        raise Decline("unusable sidx")
    sizes = items[0::3].astype(np.int64)
    return [int(v) for v in box_end + first_offset + np.concatenate(([0], np.cumsum(sizes)))]
