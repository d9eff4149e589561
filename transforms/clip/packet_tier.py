"""The packets tier: demux (never decode) every packet of the chosen video stream.

Works for every container and reads what is really there, so it is the truth
for truncated files and for containers whose index is partial (MKV/WebM cues)
or absent (MPEG-TS, MPEG-PS, fragmented MP4).

It has to be about as fast as a bare PyAV demux loop, and a 4-hour clip
(432,000 packets) must not cost memory beyond its frame arrays:
* every other stream is set to `discard = all`, so FFmpeg skips their packets
  (Matroska never builds them) and never runs their parsers (MPEG-TS);
* a packet's fields are read in one C-level call (`operator.attrgetter` over
  `map`), a chunk of packets at a time, and each chunk becomes int64 arrays at
  once: no Python list per field and no Python int per packet survives a chunk.
  (PyAV 18 has no `Packet.flags`, so the three flags are three properties.)
"""

from __future__ import annotations

import itertools
import operator
from typing import Iterator, Optional

import av
import av.stream
import numpy as np

from transforms.clip.probe import StreamFacts
from transforms.clip.timeline import NO_TS, Timeline

CHUNK_PACKETS = 1024  # packets per conversion: a chunk with an unset field (None) takes the slow path alone
_FIELDS = ("size", "pts", "dts", "pos", "duration", "is_keyframe", "is_discard", "is_corrupt")
_SIZE, _PTS, _DTS, _POS, _DURATION, _KEY, _DISCARD, _CORRUPT = range(len(_FIELDS))
_READ_FIELDS = operator.attrgetter(*_FIELDS)


def discard_other_streams(container: av.container.InputContainer, stream) -> None:
    """Only `stream`'s packets are wanted: FFmpeg need not build or parse anyone else's."""
    for other in container.streams:
        if other.index != stream.index:
            other.discard = av.stream.Discard.all


class _Stopped:
    """Why the demux ended early, if it did (FFmpeg's words)."""

    read_error: Optional[str] = None


def _until_error(packets: Iterator, stopped: _Stopped) -> Iterator:
    try:
        yield from packets
    except av.FFmpegError as exc:
        # A file cut short or damaged: keep what was read, say why it stopped.
        stopped.read_error = f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"


def _chunk_array(rows: list[tuple]) -> np.ndarray:
    """(packets x fields) int64 of one chunk; None (FFmpeg's "unset") becomes NO_TS."""
    flat = itertools.chain.from_iterable(rows)
    try:
        values = np.fromiter(flat, np.int64, len(_FIELDS) * len(rows))
    except TypeError:  # a None somewhere (MKV's first B-frame dts, AVI's pts): the slow way
        values = np.array([NO_TS if v is None else v for v in itertools.chain.from_iterable(rows)], np.int64)
    return values.reshape(len(rows), len(_FIELDS))


# Where each field goes: its own array of its own type (a 4-hour clip: ~38 bytes a packet).
_COLUMN_TYPES = {_PTS: np.int64, _DTS: np.int64, _POS: np.int64, _DURATION: np.int64, _SIZE: np.int32,
                 _KEY: np.bool_, _DISCARD: np.bool_}


class _Columns:
    """One array per field, filled a chunk at a time. Sized once from `expected` (the
    header's count, or its duration at the nominal rate); grows by half if a clip holds
    more. Space reserved but never filled is never touched, so it costs no memory."""

    def __init__(self, expected: Optional[int]):
        capacity = max(expected or 0, CHUNK_PACKETS)
        self.arrays = {field: np.empty(capacity, kind) for field, kind in _COLUMN_TYPES.items()}
        self.count = 0
        self.corrupt = 0

    def add(self, chunk: np.ndarray) -> None:
        end = self.count + chunk.shape[0]
        capacity = next(iter(self.arrays.values())).shape[0]
        if end > capacity:
            grown = max(end, capacity * 3 // 2)
            for field, array in self.arrays.items():
                self.arrays[field] = np.empty(grown, array.dtype)
                self.arrays[field][:self.count] = array[:self.count]
        for field, array in self.arrays.items():
            array[self.count:end] = chunk[:, field]
        self.corrupt += int(np.count_nonzero(chunk[:, _CORRUPT]))
        self.count = end

    def field(self, index: int) -> np.ndarray:
        return self.arrays[index][:self.count]  # a view: no copy


def expected_packets(facts: StreamFacts, file_size: int) -> Optional[int]:
    """How many packets to make room for: the header's count, else its duration at the
    nominal rate plus 10 %, never more than one per 8 bytes of the file."""
    expected = facts.header_frame_count
    claimed_s = facts.container_duration_s
    if expected is None and claimed_s and facts.rate:
        expected = int(claimed_s * float(facts.rate) * 1.1) + 64
    return None if expected is None else min(expected, file_size // 8)


def from_packets(container: av.container.InputContainer, stream,
                 expected_packets: Optional[int] = None) -> Timeline:
    """Every video packet that can be read, in decode order.

    `expected_packets`: how many the header promises or its duration implies (sizes the
    arrays once; a wrong guess costs a copy or untouched address space, never a wrong row).
    """
    discard_other_streams(container, stream)
    stopped = _Stopped()
    rows = map(_READ_FIELDS, _until_error(container.demux(stream), stopped))
    columns = _Columns(expected_packets)
    while chunk := list(itertools.islice(rows, CHUNK_PACKETS)):
        values = _chunk_array(chunk)
        columns.add(values[values[:, _SIZE] != 0])  # demux() ends with an empty flush packet
    pos, duration = columns.field(_POS), columns.field(_DURATION)
    pos[pos == NO_TS] = -1
    duration[duration == NO_TS] = 0
    discard = columns.field(_DISCARD)
    return Timeline(
        source="packets",
        pts=columns.field(_PTS),
        dts=columns.field(_DTS),
        is_keyframe=columns.field(_KEY),
        size_bytes=columns.field(_SIZE),
        pos=pos,
        duration=duration,
        corrupt_packet_count=columns.corrupt,
        read_error=stopped.read_error,
        is_discard=discard if discard.any() else None,
    )
