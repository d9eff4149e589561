"""Presentation order, duration and continuity of a timeline (pure numpy).

Definitions (docs/fields.md):
* duration = last presented pts + that frame's duration - first presented pts,
  over the frames an edit list shows (hidden "discard" samples are counted as
  frames but are not on the timeline); a frame's duration is the packet's own
  when the container stores it, else the nominal frame interval.
* the nominal interval is 1 / average rate, unless the steps between frames
  say otherwise (see `nominal_interval_ts`).
* a gap is a step between consecutive presented frames longer than
  `gap_factor` nominal intervals; its length is the step minus one interval.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Optional

import numpy as np

from transforms.clip.timeline import NO_TS, Timeline


@dataclasses.dataclass(frozen=True)
class Continuity:
    order: np.ndarray            # indices into the timeline, presentation order
    pts: np.ndarray              # presentation timestamps in that order
    start_ts: Optional[int]      # first shown frame (after any edit list)
    duration_ts: float
    nominal_interval_ts: float
    gap_count: int
    max_gap_ts: float
    gap_total_ts: float
    nonmonotonic_dts_count: int
    missing_ts_count: int        # packets with neither pts nor dts
    vfr: bool
    hidden_count: int = 0        # frames an edit list hides (stored, not shown)
    in_decode_order: bool = False  # presentation order is decode order: `order` is the identity


def nominal_interval_ts(rate: Optional[Fraction], time_base: Fraction, steps: np.ndarray,
                        gap_factor: float = 1.5) -> float:
    """One frame interval in time-base units.

    Starts from the nominal (average) rate, else the median step. The average
    rate is frames / duration, so holes count as frame time: a 30 fps camera
    with a 2 s hole in a 3 s clip claims 18 fps, which would make the hole look
    shorter and every real step look like VFR. So when the mean of the steps
    that are not gaps differs from it by more than 10 %, that mean is used
    (once: iterating would let a jittery VFR clip shrink its own interval).
    """
    positive = steps[steps > 0].astype(np.float64)
    if rate:
        interval = float(1 / (rate * time_base))
    else:
        interval = float(np.median(positive)) if positive.size else 0.0
    regular = positive[positive <= gap_factor * interval]
    if regular.size:
        mean = float(regular.mean())
        if abs(mean - interval) > 0.1 * interval:
            interval = mean
    return interval


def _last_frame_ts(timeline: Timeline, last_index: int, span_ts: int, nominal_ts: float,
                   header_duration_ts: Optional[int]) -> float:
    own = int(timeline.duration[last_index])
    if own > 0:
        return own
    if header_duration_ts:
        # The index tier has no packet durations; the header's stream duration
        # gives the last frame's exactly when it is plausible (<= 2 intervals).
        tail = header_duration_ts - span_ts
        if 0 < tail <= 2 * nominal_ts:
            return tail
    return nominal_ts


def _shown_span(timeline: Timeline, order: np.ndarray, timed_count: int) -> tuple[int, int]:
    """(first, last) positions in presentation order of the frames shown."""
    if timeline.is_discard is not None:
        shown = np.flatnonzero(~timeline.is_discard[order[:timed_count]])
        if shown.size:
            return int(shown[0]), int(shown[-1])
    return 0, timed_count - 1


def _presentation_order(timeline: Timeline):
    """(order, presented pts, timed pts, steps between timed frames, frames without a time,
    already in decode order?)."""
    pts = timeline.pts
    missing = int(np.count_nonzero(pts == NO_TS))
    steps = np.diff(pts)
    if not missing and not (steps < 0).any():
        # Already in presentation order (the index tier, and most clips without B-frames).
        return np.arange(pts.shape[0]), pts, pts, steps, missing, True
    pts = np.where(pts != NO_TS, pts, timeline.dts)
    known = pts != NO_TS
    missing = int(np.count_nonzero(~known))
    # Frames without any timestamp keep decode order, after the timed ones.
    order = np.concatenate([np.flatnonzero(known)[np.argsort(pts[known], kind="stable")],
                            np.flatnonzero(~known)])
    presented = pts[order]
    timed = presented[: presented.shape[0] - missing]
    return order, presented, timed, np.diff(timed), missing, False


def _start_and_duration_ts(timeline: Timeline, order: np.ndarray, timed: np.ndarray, nominal_ts: float,
                           header_duration_ts: Optional[int]) -> tuple[Optional[int], int]:
    """First shown frame's pts, and the time from it to the end of the last shown frame."""
    if not timed.size:
        return None, 0
    first, last = _shown_span(timeline, order, timed.size)
    span_ts = int(timed[last] - timed[first])
    last_ts = _last_frame_ts(timeline, int(order[last]), span_ts, nominal_ts, header_duration_ts)
    return int(timed[first]), span_ts + last_ts


def measure(timeline: Timeline, rate: Optional[Fraction], time_base: Fraction,
            gap_factor: float = 1.5, header_duration_ts: Optional[int] = None) -> Continuity:
    order, presented, timed, steps, missing, in_decode_order = _presentation_order(timeline)
    nominal_ts = nominal_interval_ts(rate, time_base, steps, gap_factor)
    start_ts, duration_ts = _start_and_duration_ts(timeline, order, timed, nominal_ts, header_duration_ts)

    threshold = gap_factor * nominal_ts
    gap_steps = steps[steps > threshold] - nominal_ts if nominal_ts else np.empty(0)
    regular = steps[steps <= threshold] if nominal_ts else steps
    tolerance = max(1.0, 0.1 * nominal_ts)
    vfr = bool(regular.size and np.any(np.abs(regular - nominal_ts) > tolerance))

    dts = timeline.dts[timeline.dts != NO_TS]
    hidden = int(timeline.is_discard.sum()) if timeline.is_discard is not None else 0
    return Continuity(
        order=order,
        pts=presented,
        start_ts=start_ts,
        duration_ts=float(duration_ts),
        nominal_interval_ts=nominal_ts,
        gap_count=int(gap_steps.size),
        max_gap_ts=float(gap_steps.max()) if gap_steps.size else 0.0,
        gap_total_ts=float(gap_steps.sum()),
        nonmonotonic_dts_count=int(np.count_nonzero(np.diff(dts) <= 0)),
        missing_ts_count=missing,
        vfr=vfr,
        hidden_count=hidden,
        in_decode_order=in_decode_order,
    )
