"""Counting matches by time: which index rows fall in each manifest row's time window.

A manifest row at time t with window w (the time tolerance plus the unit its
time was given to) can match an index row of the same group (device) at a
time within [t - w, t + w]. For the matching rules (transforms/reconcile/match_rows.py)
each side needs: how many rows of the other side it could match, and, for a
manifest row, the first of its candidates. Both come from sorted arrays and
binary searches (numpy), never from pairs: a million manifest rows against
tens of thousands of clips cost a few sorts.
"""

from __future__ import annotations

import dataclasses

import numpy as np

_MAX_KEY = 2**62


@dataclasses.dataclass
class WindowCounts:
    count_m: np.ndarray    # per manifest row: index rows in its window
    first_m: np.ndarray    # per manifest row: its first candidate (position in the index arrays), or -1
    count_i: np.ndarray    # per index row: manifest windows that hold it
    order_i: np.ndarray    # index rows sorted by (group, time): candidates of m are order_i[left:left+count]
    left_m: np.ndarray


def _keys(group: np.ndarray, time_ms: np.ndarray, t0: int, span: int, g0: int) -> np.ndarray:
    return (group - g0).astype(np.int64) * span + (time_ms - t0)


def window_counts(m_group: np.ndarray, m_time_ms: np.ndarray, m_window_ms: np.ndarray,
                  i_group: np.ndarray, i_time_ms: np.ndarray) -> WindowCounts:
    """Counts over rows that all have a group (>= 0) and a time (callers pass only those).

    Groups are laid end to end on one integer axis (group x span + time), so
    one searchsorted answers every row; when that axis would not fit in
    int64, the groups are taken a slice at a time.
    """
    count_m = np.zeros(len(m_group), dtype=np.int64)
    first_m = np.full(len(m_group), -1, dtype=np.int64)
    left_m = np.zeros(len(m_group), dtype=np.int64)
    count_i = np.zeros(len(i_group), dtype=np.int64)
    order_i = np.lexsort((i_time_ms, i_group))
    if len(m_group) == 0 or len(i_group) == 0:
        return WindowCounts(count_m, first_m, count_i, order_i, left_m)
    widest = int(m_window_ms.max())
    times = np.concatenate([m_time_ms, i_time_ms])
    t0 = int(times.min()) - widest
    span = int(times.max()) - t0 + widest + 1
    sorted_groups = i_group[order_i]
    per_slice = max(1, _MAX_KEY // span)
    for g0 in range(0, int(max(m_group.max(), i_group.max())) + 1, per_slice):
        lo, hi = np.searchsorted(sorted_groups, [g0, g0 + per_slice])
        i_rows = order_i[lo:hi]
        m_rows = np.flatnonzero((m_group >= g0) & (m_group < g0 + per_slice))
        i_keys = _keys(i_group[i_rows], i_time_ms[i_rows], t0, span, g0)  # ascending, as order_i
        m_keys = _keys(m_group[m_rows], m_time_ms[m_rows], t0, span, g0)
        window = m_window_ms[m_rows]
        left = np.searchsorted(i_keys, m_keys - window, side="left")
        right = np.searchsorted(i_keys, m_keys + window, side="right")
        count_m[m_rows] = right - left
        left_m[m_rows] = lo + left
        has = right > left
        first_m[m_rows[has]] = i_rows[left[has]]
        starts, ends = np.sort(m_keys - window), np.sort(m_keys + window)
        count_i[i_rows] = np.searchsorted(starts, i_keys, side="right") - np.searchsorted(ends, i_keys, side="left")
    return WindowCounts(count_m, first_m, count_i, order_i, left_m)
