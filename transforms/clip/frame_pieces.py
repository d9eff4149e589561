"""One clip's frames table, made and handed on in bounded pieces.

A 4-hour clip has 432,000 frames. Built as one record batch, it would be a
second copy of the timeline in Arrow form, then a third as the IPC message
that crosses the isolation pipe, and one Parquet row group far larger than
the writer's. Instead each piece of at most `FRAME_PIECE_ROWS` rows is built
from slices of the timeline only when it is asked for (the isolated reader
serializes and sends it, then drops it), so the reader holds the timeline's
arrays and one piece, however long the clip.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Iterator

import numpy as np
import pyarrow as pa

from schemas import FRAMES_SCHEMA
from transforms.clip.continuity import Continuity
from transforms.clip.timeline import NO_TS, Timeline

FRAME_PIECE_ROWS = 64 * 1024  # ~2.5 MB of Arrow per piece


def _nullable(values: np.ndarray, missing: np.ndarray) -> pa.Array:
    return pa.array(values, mask=missing) if missing.any() else pa.array(values)


@dataclasses.dataclass(frozen=True)
class FramePieces:
    """The frames rows of one clip, in presentation order, as record batches made on demand."""

    clip_id: str
    timeline: Timeline
    cont: Continuity
    time_base: Fraction
    piece_rows: int = FRAME_PIECE_ROWS

    @property
    def num_rows(self) -> int:
        return int(self.cont.order.shape[0])

    def __len__(self) -> int:
        return -(-self.num_rows // self.piece_rows)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for start in range(0, self.num_rows, self.piece_rows):
            yield self.piece(start, min(start + self.piece_rows, self.num_rows))

    def piece(self, start: int, stop: int) -> pa.RecordBatch:
        """Rows [start, stop) of the clip's frames (frame_index start .. stop - 1)."""
        cont, timeline = self.cont, self.timeline
        rows = slice(start, stop)
        taken = None if cont.in_decode_order else cont.order[rows]

        def presented(values: np.ndarray) -> np.ndarray:
            return values[rows] if taken is None else values[taken]

        count = stop - start
        tb = self.time_base
        pts = cont.pts[rows]
        pts_mask = pts == NO_TS
        dts = presented(timeline.dts)
        pos = presented(timeline.pos)
        columns = [
            pa.repeat(pa.scalar(self.clip_id, pa.string()), count),
            pa.array(np.arange(start, stop, dtype=np.int32)),
            _nullable(pts, pts_mask),
            _nullable(dts, dts == NO_TS),
            pa.array(np.full(count, tb.numerator, np.int32)),
            pa.array(np.full(count, tb.denominator, np.int32)),
            _nullable(pts * (tb.numerator / tb.denominator), pts_mask),
            pa.array(presented(timeline.is_keyframe)),
            pa.array(presented(timeline.size_bytes)),
            _nullable(pos, pos < 0),
        ]
        return pa.RecordBatch.from_arrays(columns, schema=FRAMES_SCHEMA)
