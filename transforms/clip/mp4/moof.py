"""Fragmented MP4: the video track's packets from the movie fragments' run tables.

A fragmented file (crash-safe recorders, streaming) keeps an empty or partial
sample table in the `moov` and the rest in `moof` boxes spread through the
file, each before the `mdat` it describes. Walking the top-level box headers
(16 bytes each, never an mdat's payload) and reading each moof gives every
sample's decode time, size, position, sync flag and composition offset:
`mvex/trex` defaults, `tfhd` (flags, defaults, base data offset,
default-base-is-moof), `tfdt`, and one or more `trun` per track fragment.

The rules are FFmpeg's (libavformat/mov.c: mov_read_moof, mov_read_tfhd,
mov_read_tfdt, mov_read_trun, mov_read_sidx, mov_read_packet), including its
quirks: a run's start time comes from tfdt, else from where the track's last
run ended; runs without a data offset start at the fragment's base; samples
decoded no later than the previous run's last one are marked discard;
composition offsets are signed whatever the box version, and the largest
negative one shifts presentation times. The python loop is per box (a few per
fragment); the samples of a run are read with numpy.

A file cut short keeps the samples that start before its end (the last one
possibly partial, as FFmpeg reads it), and says how many were lost; the file
level (moov samples, sidx, the cut) is in `mp4_fragment_file`.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Optional

import numpy as np

from transforms.clip.mp4 import boxes as mb
from transforms.clip.mp4.trun import Decline, Run, read_run

_BASE_DATA_OFFSET, _STSD_ID, _DEFAULT_DURATION, _DEFAULT_SIZE, _DEFAULT_FLAGS = 0x1, 0x2, 0x8, 0x10, 0x20
_DEFAULT_BASE_IS_MOOF = 0x20000


@dataclasses.dataclass
class Track:
    """FFmpeg's per-track fragment state (MOVStreamContext fields it keeps between fragments)."""

    track_end: int = 0
    time_offset: int = 0
    timescale: int = 1
    audio_codec: bytes = b""         # the sample entry's format, e.g. b"mp4a"
    single_stsd: bool = True         # FFmpeg then takes only fragments that name sample description 1
    first_lost: Optional[int] = None  # decode time of its first sample starting past the file's end


@dataclasses.dataclass
class _Fragment:
    """FFmpeg's MOVFragment: what the last accepted tfhd set, within one moof."""

    moof_offset: int
    implicit_offset: int
    cut: bool = False            # the end of the file falls inside this moof
    found_tfhd: bool = False
    base: int = 0
    defaults: tuple[int, int, int] = (0, 0, 0)  # duration, size, flags
    stsd_id: int = 0
    current: Optional[int] = None               # the frag index's current stream (track id)
    tfdt: dict = dataclasses.field(default_factory=dict)       # track id -> base media decode time
    next_dts: dict = dataclasses.field(default_factory=dict)   # track id -> where its last run ended


class FragmentReader:
    """Reads the moofs of one file in order, collecting the runs of one track."""

    def __init__(self, moov: bytes, track_id: int, file_size: int, tracks: dict[int, Track]):
        self.track_id = track_id
        self.file_size = file_size
        self.trex = _trex(moov)
        self.tracks = tracks
        self.frag_track = 0
        self.runs: list[Run] = []
        self.last_dts: Optional[int] = None  # the track's last index entry so far
        self.dts_shift = 0
        self.has_sidx = False

    def read_moof(self, data: bytes, moof_offset: int, cut: bool, fragment_number: int) -> None:
        frag = _Fragment(moof_offset, moof_offset, cut)
        try:
            self._children(data, 0, len(data), frag, cut, fragment_number)
        except _CutShort:
            pass  # the file ends inside this moof: FFmpeg reads nothing after that point either

    def _children(self, data: bytes, start: int, end: int, frag: _Fragment, cut: bool, number: int) -> None:
        for box_type, payload, box_end in mb.boxes(data, start, end):
            if box_type in (b"trak", b"mdat"):  # FFmpeg: "not at top-level", ends the container
                break
            if box_type == b"traf":
                self._children(data, payload, box_end, frag, cut, number)
            elif box_type == b"tfhd":
                self._tfhd(data, payload, frag)
            elif box_type == b"tfdt":
                self._tfdt(data, payload, frag)
            elif box_type == b"trun":
                self._trun(data, payload, frag, cut, number)
            elif box_type in (b"senc", b"saiz", b"saio"):
                raise Decline("encrypted fragments")

    def _tfhd(self, data: bytes, at: int, frag: _Fragment) -> None:
        flags, track = _fields(data, at, ">I I", frag.cut)
        flags &= 0xFFFFFF
        if track == 0:
            raise Decline("tfhd with track id 0")
        trex = self.trex.get(track)
        if trex is None:
            return  # FFmpeg ignores a fragment of a track without defaults
        frag.found_tfhd, self.frag_track = True, track
        if track in self.tracks:
            frag.current = track
        at += 8
        if flags & _BASE_DATA_OFFSET:
            frag.base = _fields(data, at, ">Q", frag.cut)[0]
            at += 8
        else:
            frag.base = frag.moof_offset if flags & _DEFAULT_BASE_IS_MOOF else frag.implicit_offset
        frag.stsd_id = trex[3]
        if flags & _STSD_ID:
            frag.stsd_id = _fields(data, at, ">I", frag.cut)[0]
            at += 4
        defaults = []
        for bit, default in ((_DEFAULT_DURATION, trex[0]), (_DEFAULT_SIZE, trex[1]), (_DEFAULT_FLAGS, trex[2])):
            if flags & bit:
                default = _fields(data, at, ">I", frag.cut)[0]
                at += 4
            defaults.append(default)
        frag.defaults = tuple(defaults)
        if frag.current is not None:
            frag.next_dts.pop(frag.current, None)

    def _tfdt(self, data: bytes, at: int, frag: _Fragment) -> None:
        track = self.tracks.get(self.frag_track)
        if track is None or (track.single_stsd and frag.stsd_id != 1):
            return
        version = _fields(data, at, ">B", frag.cut)[0]
        value = _fields(data, at + 4, ">Q" if version else ">I", frag.cut)[0]
        if version and value >= 2 ** 63:
            value -= 2 ** 64
        if frag.current is not None:
            frag.tfdt[frag.current] = value
        self.tracks[self.frag_track].track_end = value

    def _trun(self, data: bytes, at: int, frag: _Fragment, cut: bool, number: int) -> None:
        if not frag.found_tfhd:
            raise Decline("trun before any tfhd")
        track = self.tracks.get(self.frag_track)
        if track is None or (track.single_stsd and frag.stsd_id != 1):
            return  # FFmpeg skips runs that name another sample description
        current = frag.current
        if current is not None and current in frag.next_dts:
            start = frag.next_dts[current] - track.time_offset
        elif current is not None and current in frag.tfdt:
            start = frag.tfdt[current] - track.time_offset
        elif self.has_sidx:
            raise Decline("fragment without tfdt beside a sidx")
        else:
            start = track.track_end - track.time_offset
        ours = self.frag_track == self.track_id
        run = read_run(data, at, frag.base, start, frag.defaults, ours, cut, self.file_size, number)
        if run is None:  # no entries: FFmpeg changes nothing
            return
        if not ours and track.first_lost is None:
            lost = np.flatnonzero(run.pos >= self.file_size)
            if lost.shape[0]:
                track.first_lost = int(run.dts[lost[0]])
            elif run.unread:  # entries of a cut moof: they start at the end of what was read
                track.first_lost = run.end_dts
        if ours:
            if self.last_dts is not None and run.dts.shape[0]:
                run.discard = run.dts <= self.last_dts  # overlaps what came before: hidden
            if run.dts.shape[0]:
                self.last_dts = int(run.dts[-1])
            self.dts_shift = max(self.dts_shift, run.dts_shift)
            self.runs.append(run)
        if current is not None:
            frag.next_dts[current] = run.end_dts + track.time_offset
        frag.implicit_offset = run.end_offset
        track.track_end = run.end_dts + track.time_offset


class _CutShort(Exception):
    """A fragment header that the end of the file cuts."""


def _fields(data: bytes, at: int, fmt: str, cut: bool = False) -> tuple:
    """Fields FFmpeg reads on from `at`, past the box's end if need be (not past the moof)."""
    if at + struct.calcsize(fmt) > len(data):
        if cut:
            raise _CutShort()
        raise Decline("a fragment header runs past its moof")
    return struct.unpack_from(fmt, data, at)


def _trex(moov: bytes) -> dict[int, tuple[int, int, int, int]]:
    """Each track's fragment defaults (duration, size, flags, sample description); the first
    trex of a track wins."""
    found: dict[int, tuple[int, int, int, int]] = {}
    for box_type, payload, end in mb.boxes(moov, 0, len(moov)):
        if box_type != b"mvex":
            continue
        for sub_type, start, _end in mb.boxes(moov, payload, end):
            if sub_type == b"trex" and start + 24 <= len(moov):
                track, stsd, duration, size, flags = struct.unpack_from(">5I", moov, start + 4)
                found.setdefault(track, (duration, size, flags, stsd))
    return found
