"""A video track's samples as the header tier holds them: raw (as stored) and final (as FFmpeg
hands them out). Data only, shared by the sample-table reader, the edit-list rules and the
fragment readers."""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np


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
    # (timestamps, positions, sizes, keyframe flags, discard flags or None), and the lengths it
    # may have (fragments read lazily grow it while demuxing; a cut fragment adds unreadable ones).
    index: Optional[tuple] = None
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

