"""One `trun` box read with numpy, and the runs of a track put together as FFmpeg demuxes them.

See `mp4_fragments` for the walk over the file. Here: the per-sample fields of
a run (duration, size, flags, composition offset, each present or taken from
the tfhd/trex defaults), and the end of the file: a sample that starts past it
ends the demux; one that starts before it and runs past it comes out shorter,
flagged corrupt (av_get_packet reads what exists).
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Optional, Union

import numpy as np

from transforms.clip.mp4 import boxes as mb
from transforms.clip.mp4.chunks import MAX_SAMPLE_BYTES
from transforms.clip.mp4.sample_table import SampleTable

_DATA_OFFSET, _FIRST_FLAGS = 0x1, 0x4
_FIELDS = (0x100, 0x200, 0x400, 0x800)  # duration, size, flags, composition offset per sample
_NON_SYNC = 0x00010000 | 0x01000000    # is-non-sync, or depends on other samples
_LIMIT = 2 ** 62


@dataclasses.dataclass
class Run:
    """The samples of one run of the wanted track, in decode order."""

    dts: np.ndarray
    duration: np.ndarray
    offsets: np.ndarray      # composition offsets (0 without them)
    pos: np.ndarray
    size: np.ndarray
    keys: np.ndarray
    fragment: int            # which moof (-1: the moov's own samples)
    dts_shift: int = 0       # FFmpeg's shift for this run's negative offsets
    discard: Optional[np.ndarray] = None
    end_dts: int = 0
    end_offset: int = 0
    unread: int = 0          # entries of a cut moof that could not be read (all past the end)


class Decline(Exception):
    """This file's fragments are not read the way FFmpeg reads them; the message says why."""


def read_run(data: bytes, at: int, base: int, start_dts: int, defaults: tuple[int, int, int],
             ours: bool, cut: bool, file_size: int, fragment: int) -> Optional[Run]:
    """One trun at data[at:], as mov_read_trun reads it; None when it lists no samples."""
    header = _header(data, at, cut)
    if header is None:  # the moof is cut inside this run's header
        if ours:
            raise Decline("file cut inside a run header")
        return None
    flags, entries, data_offset, first_flags, rows_at = header
    if not flags & _FIRST_FLAGS:
        first_flags = defaults[2]
    if entries == 0:
        return None
    present = [bit for bit in _FIELDS if flags & bit]
    width = 4 * len(present)
    if not width and entries > 100_000 + 16 * len(data):  # defaults only: a few bytes can claim billions
        raise Decline("implausible sample count in a run")
    readable = entries if not width else min(entries, max(0, (len(data) - rows_at) // width))
    if readable < entries and not cut:
        raise Decline("a run runs past its moof")
    rows = np.frombuffer(data, mb.U32, readable * len(present), rows_at).reshape(readable, len(present))
    column = {bit: rows[:, number].astype(np.int64) for number, bit in enumerate(present)}
    duration = column.get(0x100, np.full(readable, defaults[0], np.int64))
    size = column.get(0x200, np.full(readable, defaults[1], np.int64))
    sample_flags = column.get(0x400)
    if sample_flags is None:
        sample_flags = np.full(readable, defaults[2], np.int64)
        sample_flags[:1] = first_flags
    offsets = column.get(0x800)
    offsets = offsets.astype(np.uint32).view(np.int32).astype(np.int64) if offsets is not None \
        else np.zeros(readable, np.int64)
    if (size == 0).any():
        raise Decline("a sample of size 0 in a run")
    if (size > MAX_SAMPLE_BYTES).any():  # FFmpeg's 30-bit index field cannot hold it: reading fails
        raise Decline("a sample larger than FFmpeg's index can hold")
    start = base + data_offset
    pos = start + np.concatenate(([0], np.cumsum(size)[:-1])) if readable else np.zeros(0, np.int64)
    dts = start_dts + np.concatenate(([0], np.cumsum(duration)[:-1])) if readable else np.zeros(0, np.int64)
    end_dts, end_offset = start_dts + int(duration.sum()), start + int(size.sum())
    if abs(end_dts) >= _LIMIT or not 0 <= start < _LIMIT or end_offset >= _LIMIT:
        raise Decline("run times or offsets out of range")
    if ours and (duration == 0).any():
        raise Decline("a sample of duration 0 in a run")
    shift = min(-int(offsets.min()), 2 ** 31 - 1) if readable and offsets.min() < 0 else 0
    run = Run(dts=dts, duration=duration, offsets=offsets, pos=pos, size=size,
              keys=(sample_flags & _NON_SYNC) == 0, fragment=fragment, dts_shift=shift,
              end_dts=end_dts, end_offset=end_offset, unread=entries - readable)
    if run.unread and ours and min(start, end_offset) < file_size:
        raise Decline("file cut inside a run that points before the cut")
    return run


def _header(data: bytes, at: int, cut: bool) -> Optional[tuple[int, int, int, int, int]]:
    """(flags, entries, data offset, first sample flags, where the rows start)."""
    if at + 8 > len(data):
        return _short(cut)
    flags, entries = struct.unpack_from(">II", data, at)
    flags &= 0xFFFFFF
    at += 8
    data_offset = first_flags = 0
    if flags & _DATA_OFFSET:
        if at + 4 > len(data):
            return _short(cut)
        data_offset = struct.unpack_from(">i", data, at)[0]
        at += 4
    if flags & _FIRST_FLAGS:
        if at + 4 > len(data):
            return _short(cut)
        first_flags = struct.unpack_from(">I", data, at)[0]
        at += 4
    return flags, entries, data_offset, first_flags, at


def _short(cut: bool) -> None:
    if not cut:
        raise Decline("a run header runs past its moof")
    return None


def assemble(head: Optional[Run], runs: list[Run], dts_shift: int, file_size: int,
             lazy: Optional[list[Optional[int]]]) -> Union[SampleTable, str]:
    """Every run of the track in decode order, cut where the file ends.

    `lazy`: when a complete sidx makes FFmpeg read fragments one by one while demuxing,
    where each fragment's mdat ends (None: it read them all at open).
    """
    parts = ([head] if head is not None else []) + runs
    if not parts or sum(part.dts.shape[0] for part in parts) == 0:
        return "no samples in the fragments"
    dts = np.concatenate([part.dts for part in parts])
    offsets = np.concatenate([part.offsets for part in parts])
    pos = np.concatenate([part.pos for part in parts])
    size = np.concatenate([part.size for part in parts])
    keys = np.concatenate([part.keys for part in parts])
    duration = np.concatenate([part.duration for part in parts])
    discard = np.concatenate([part.discard if part.discard is not None else np.zeros(part.dts.shape[0], bool)
                              for part in parts])
    counts = np.cumsum([part.dts.shape[0] for part in parts])
    unread = sum(part.unread for part in parts)
    index = (dts, pos, size, keys, discard if discard.any() else None)
    allowed = frozenset((int(counts[-1]),))
    if lazy is not None:
        problem = _lazy_problem(parts, lazy, file_size, unread)
        if problem:
            return problem
        allowed = frozenset(int(c) for c in counts[(1 if head is not None else 0):])
    past_end = np.flatnonzero(pos >= file_size)
    readable = int(past_end[0]) if past_end.shape[0] else pos.shape[0]  # the demux ends at the first
    if past_end.shape[0] and past_end.shape[0] != pos.shape[0] - readable:
        return "a sample starts past the end of the file before others that do not"
    corrupt = 0
    if readable and pos[readable - 1] + size[readable - 1] > file_size:
        # av_get_packet returns the bytes that exist, flagged corrupt; FFmpeg's codec parser,
        # which decides the key flag, cannot see a whole frame in it.
        size, keys = size.copy(), keys.copy()
        size[readable - 1] = file_size - pos[readable - 1]
        keys[readable - 1] = False
        corrupt = 1
    keep = slice(0, readable)
    if readable == 0:
        return "no sample starts before the end of the file"
    shown = discard[keep]
    return SampleTable(dts=dts[keep], pts=dts[keep] + dts_shift + offsets[keep], duration=duration[keep],
                       pos=pos[keep], size_bytes=size[keep], is_keyframe=keys[keep],
                       is_discard=shown if shown.any() else None,
                       beyond_eof_count=pos.shape[0] - readable + unread, corrupt_count=corrupt,
                       index=index, index_counts=allowed, index_open_ended=bool(unread),
                       source_note="fragment run tables")


def _lazy_problem(parts: list[Run], data_ends: list[Optional[int]], file_size: int, unread: int) -> Optional[str]:
    """What would make FFmpeg's fragment-by-fragment reading differ from reading them all."""
    if unread or any((part.pos + part.size > file_size).any() for part in parts):
        return "indexed fragments cut short"
    if any(part.fragment < 0 for part in parts):
        return "moov samples beside indexed fragments"
    if max(part.dts_shift for part in parts) > max((part.dts_shift for part in parts if part.fragment == 0), default=0):
        return "negative composition offsets grow after the first fragment"
    for part in parts:
        end = data_ends[part.fragment] if part.fragment < len(data_ends) else None
        if end is None or (part.pos + part.size > end).any():
            return "fragment data outside its mdat"
    return None
