"""One planned clip of a synthetic corpus (what corpus.py decides and remux.py writes)."""

from __future__ import annotations

import dataclasses
import datetime as dt


@dataclasses.dataclass(frozen=True)
class ClipPlan:
    relpath: str
    frame_count: int
    recorded_at: dt.datetime
    device_id: str
    officer_id: str
    segments: tuple[int, ...]  # segment variant for each GOP
