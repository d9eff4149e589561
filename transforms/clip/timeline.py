"""Per-frame timestamps of the video stream, by the cheapest honest tier.

* `index`: the container's own tables, read without touching media data.
  For MP4/MOV that is the sample table in the moov, or the run tables of a
  fragmented file (transforms.clip.mp4.header_tier), turned into exactly the packets
  FFmpeg demuxes: presentation and decode times (composition offsets, edit
  list), sizes, positions, keyframe and discard flags, durations. For other
  containers it is `stream.index_entries`, used only when it lists one entry
  per frame (the header's frame count), every listed sample lies inside the
  bytes that exist, and presentation order equals decode order (no B-frames),
  because that index holds decode timestamps only.
* `packets`: demux every video packet without decoding (transforms.clip.packet_tier). Works for every
  container and reads what is really there, so it is the truth for truncated
  files and for containers whose index is partial (MKV/WebM cues) or absent
  (MPEG-TS).

Both tiers keep samples that an edit list hides (FFmpeg flags them
"discard"; they are stored, demuxed and counted by ffprobe, but never shown),
and mark them so the duration can leave them out.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from typing import Optional, Union

import numpy as np

from transforms.clip.mp4.sample_table import SampleTable
from transforms.clip.probe import StreamFacts

NO_TS = np.iinfo(np.int64).min  # FFmpeg's AV_NOPTS_VALUE
# AVI index entries point at the chunk header (fourcc + size), packets at the
# payload after it; shift so both tiers report the same byte position.
_CHUNK_HEADER_BYTES = {"avi": 8}
_AVINDEX_KEYFRAME = 1
_AVINDEX_DISCARD_FRAME = 2


@dataclasses.dataclass
class Timeline:
    """Video packets in decode order, with what the extraction noticed."""

    source: str                 # index | packets
    pts: np.ndarray             # int64, NO_TS where unknown
    dts: np.ndarray             # int64, NO_TS where unknown
    is_keyframe: np.ndarray     # bool
    size_bytes: np.ndarray      # int32
    pos: np.ndarray             # int64, -1 where unknown
    duration: np.ndarray        # int64 packet durations, 0 where unknown
    corrupt_packet_count: int = 0
    read_error: Optional[str] = None   # why demuxing stopped early, if it did
    beyond_eof_count: int = 0          # index entries that point past the file's end
    is_discard: Optional[np.ndarray] = None  # bool: hidden by an edit list; None = none hidden

    @property
    def frame_count(self) -> int:
        return int(self.pts.shape[0])


@dataclasses.dataclass(frozen=True)
class IndexVerdict:
    usable: bool
    reason: str
    beyond_eof_count: int = 0


_ENTRY_FIELDS = operator.attrgetter("timestamp", "pos", "size", "flags")


def _entry_arrays(entries) -> tuple[np.ndarray, ...]:
    """(timestamps, positions, sizes, is_keyframe, is_discard) of every index entry.

    One pass over one slice: `entries[:]` builds every IndexEntry in Cython,
    about 5x faster than iterating, and each attribute read wraps a C field in
    a Python object; this read is most of the header tier's cost per clip.
    """
    listed = entries[:]
    flat = itertools.chain.from_iterable(map(_ENTRY_FIELDS, listed))
    rows = np.fromiter(flat, np.int64, 4 * len(listed)).reshape(-1, 4)
    flags = rows[:, 3]  # a signed 2-bit field (-2..1): the bits still mask correctly
    return (rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy(),
            (flags & _AVINDEX_KEYFRAME) != 0, (flags & _AVINDEX_DISCARD_FRAME) != 0)


def judge_index(facts: StreamFacts, entry_count: int, last_byte: int, file_size: int,
                beyond_eof_count: int) -> IndexVerdict:
    """Is the container index complete and inside the file? Pure; see module doc."""
    if entry_count == 0:
        return IndexVerdict(False, "container has no sample index")
    if facts.header_frame_count is None or facts.header_frame_count != entry_count:
        return IndexVerdict(False, "index lists only some frames (cues), not every sample")
    if beyond_eof_count or last_byte > file_size:
        return IndexVerdict(False, f"index lists {beyond_eof_count} samples beyond the end of the file",
                            beyond_eof_count)
    if facts.has_reorder:
        return IndexVerdict(False, "B-frames: the index holds decode times only")
    return IndexVerdict(True, "complete index")


def from_table(table: Union[SampleTable, str], file_size: int) -> tuple[Optional[Timeline], IndexVerdict]:
    """The index tier from an MP4 table (transforms.clip.mp4.header_tier), or why not (a str reason).

    A stored table that lists samples past the end of the file is refused (the file was
    cut: demuxing tells what remains). Fragment tables arrive already cut at the end of
    the file, with the count of samples lost, so a cut fragmented file stays on this tier.
    """
    if isinstance(table, str):
        return None, IndexVerdict(False, table)
    beyond = table.beyond_eof_count
    if not beyond:
        beyond = int(np.count_nonzero(table.pos + table.size_bytes > file_size))
        if beyond:
            return None, IndexVerdict(False, "index lists samples beyond the end of the file", beyond)
    timeline = Timeline(
        source="index",
        pts=table.pts,
        dts=table.dts,
        is_keyframe=table.is_keyframe,
        size_bytes=table.size_bytes.astype(np.int32),
        pos=table.pos,
        duration=table.duration,
        corrupt_packet_count=table.corrupt_count,
        beyond_eof_count=beyond,
        is_discard=table.is_discard,
    )
    return timeline, IndexVerdict(True, table.source_note, beyond)


def from_index(stream, facts: StreamFacts, file_size: int) -> tuple[Optional[Timeline], IndexVerdict]:
    """The index tier from PyAV's index entries; returns (None, verdict) when they cannot be trusted."""
    entries = stream.index_entries
    if len(entries) == 0:
        return None, judge_index(facts, 0, 0, file_size, 0)
    timestamps, positions, sizes, keys, discard = _entry_arrays(entries)
    positions = positions + _CHUNK_HEADER_BYTES.get(facts.container, 0)
    ends = positions + sizes
    beyond = int(np.count_nonzero(ends > file_size))
    verdict = judge_index(facts, timestamps.shape[0], int(ends.max()), file_size, beyond)
    if not verdict.usable:
        return None, verdict
    timeline = Timeline(
        source="index",
        pts=timestamps,
        dts=timestamps.copy(),
        is_keyframe=keys,
        size_bytes=sizes.astype(np.int32),
        pos=positions,
        duration=np.zeros_like(timestamps),
        is_discard=discard if discard.any() else None,
    )
    return timeline, verdict
