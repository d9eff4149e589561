"""The bookkeeping of matching: open and contested rows, one rule at a time.

See transforms/reconcile/match_rows.py for the rules. A rule gives, for each open row on
either side, how many rows of the other side it could be; `settle` matches
the pairs that are each other's only candidate and marks the rest contested,
noting a few candidates of each contested manifest row for the report.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.reconcile.match_windows import window_counts

SHOWN_CANDIDATES = 5


@dataclasses.dataclass
class Side:
    """One side's keys (manifest or index), one entry per row."""

    uri: pa.Array
    clip_id: pa.Array
    name: pa.Array       # file stem, lower case (null: none)
    device: pa.Array     # lower case (null: none)
    time_ms: np.ndarray  # recorded_at, ms since the epoch
    has_time: np.ndarray
    window_ms: np.ndarray  # manifest side: how far a clip's time may be


def valid(values: pa.Array) -> np.ndarray:
    return values.is_valid().to_numpy(zero_copy_only=False)


def codes(m_keys: pa.Array, i_keys: pa.Array) -> tuple[np.ndarray, np.ndarray, int]:
    """Shared integer codes of two key columns (index side's dictionary; -1: not on that side)."""
    encoded = pc.dictionary_encode(i_keys)
    i_code = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    m_code = pc.index_in(m_keys, value_set=encoded.dictionary).fill_null(-1).to_numpy(zero_copy_only=False)
    return m_code.astype(np.int64), i_code, len(encoded.dictionary)


class _Grouped:
    """Index rows sorted by code, to list a code's rows."""

    def __init__(self, i_rows: np.ndarray, i_code: np.ndarray, n_codes: int):
        order = np.argsort(i_code, kind="stable")
        self.rows, self.count = i_rows[order], np.bincount(i_code, minlength=n_codes)
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]]).astype(np.int64)
        self.first = np.where(self.count > 0, self.rows[np.minimum(self.start, max(len(order) - 1, 0))], -1) \
            if len(order) else np.full(n_codes, -1)

    def listed(self, code: int) -> list[int]:
        start = int(self.start[code])
        return self.rows[start:start + min(int(self.count[code]), SHOWN_CANDIDATES)].tolist()


class Matcher:
    def __init__(self, m: Side, i: Side, rules: tuple[str, ...]):
        self.rules = rules
        self.m, self.i = m, i
        self.m_index = np.full(len(m.time_ms), -1, dtype=np.int64)
        self.m_rule = np.full(len(m.time_ms), -1, dtype=np.int8)
        self.i_manifest = np.full(len(i.time_ms), -1, dtype=np.int64)
        self.m_contested = np.zeros(len(m.time_ms), dtype=bool)
        self.i_contested = np.zeros(len(i.time_ms), dtype=bool)
        self._pending: list[tuple] = []  # per settle: what lists a contested row's candidates

    def open_m(self, *keys) -> np.ndarray:
        mask = (self.m_index < 0) & ~self.m_contested
        for key in keys:
            mask &= key if isinstance(key, np.ndarray) else valid(key)
        return np.flatnonzero(mask)

    def open_i(self, *keys) -> np.ndarray:
        mask = (self.i_manifest < 0) & ~self.i_contested
        for key in keys:
            mask &= key if isinstance(key, np.ndarray) else valid(key)
        return np.flatnonzero(mask)

    def settle(self, rule: int, m_rows, count_m, first_m, i_rows, count_i,
               listing: Callable[[np.ndarray], list]) -> np.ndarray:
        """Match the one-and-only pairs; the rest of the rows that have candidates are contested.

        count_m/first_m are per m_rows entry; count_i is per index row (full length).
        Returns the contested manifest rows.
        """
        one = (count_m == 1) & (first_m >= 0)
        one[one] = count_i[first_m[one]] == 1
        matched_m, matched_i = m_rows[one], first_m[one]
        self.m_index[matched_m], self.m_rule[matched_m] = matched_i, rule
        self.i_manifest[matched_i] = matched_m
        contested = m_rows[(count_m >= 1) & ~one]
        self.m_contested[contested] = True
        self.i_contested[i_rows[(count_i[i_rows] >= 1) & (self.i_manifest[i_rows] < 0)]] = True
        self._pending.append((rule, m_rows, (count_m >= 1) & ~one, count_m, listing))
        return contested

    def list_candidates(self, ambiguous: np.ndarray) -> dict[int, tuple[str, int, list[int]]]:
        """The candidates of the rows that end ambiguous, as the rule that contested them first saw
        them (listed only now: on a big night most contested rows are settled by time)."""
        found: dict[int, tuple[str, int, list[int]]] = {}
        listed = np.zeros(len(ambiguous), dtype=bool)
        for rule, m_rows, wanted, count_m, listing in self._pending:
            todo = wanted & ambiguous[m_rows] & ~listed[m_rows]
            listed[m_rows[todo]] = True
            for row, count, shown in zip(m_rows[todo].tolist(), count_m[todo].tolist(), listing(todo)):
                found[row] = (self.rules[rule], count, shown)
        return found

    def by_equal_key(self, rule: int, m_key: pa.Array, i_key: pa.Array) -> tuple:
        m_rows, i_rows = self.open_m(m_key), self.open_i(i_key)
        m_code, i_code, n_codes = codes(m_key.take(m_rows), i_key.take(i_rows))
        grouped = _Grouped(i_rows, i_code, n_codes)
        a = np.bincount(m_code[m_code >= 0], minlength=n_codes)
        has = m_code >= 0
        count_m = np.where(has, grouped.count[np.maximum(m_code, 0)], 0) if n_codes else np.zeros(len(m_rows), int)
        first_m = np.where(has, grouped.first[np.maximum(m_code, 0)], -1) if n_codes else np.full(len(m_rows), -1)
        count_i = np.zeros(len(self.i.time_ms), dtype=np.int64)
        count_i[i_rows] = a[i_code]
        contested = self.settle(rule, m_rows, count_m, first_m, i_rows, count_i,
                                lambda wanted: [grouped.listed(c) for c in m_code[wanted].tolist()])
        return contested, m_rows, m_code, i_rows, i_code

    def by_time(self, rule: int, m_rows, m_group, i_rows, i_group) -> np.ndarray:
        m, i = self.m, self.i
        windows = window_counts(m_group, m.time_ms[m_rows], m.window_ms[m_rows], i_group, i.time_ms[i_rows])
        count_i = np.zeros(len(i.time_ms), dtype=np.int64)
        count_i[i_rows] = windows.count_i
        first_m = np.where(windows.first_m >= 0, i_rows[np.maximum(windows.first_m, 0)], -1)

        def listing(wanted: np.ndarray) -> list:
            return [i_rows[windows.order_i[left:left + min(count, SHOWN_CANDIDATES)]].tolist()
                    for left, count in zip(windows.left_m[wanted].tolist(), windows.count_m[wanted].tolist())]
        return self.settle(rule, m_rows, windows.count_m, first_m, i_rows, count_i, listing)

    def by_name(self, rule: int) -> np.ndarray:
        """The same file name, unless both rows name a device (then rule 3 already decided).

        Among open rows, a name never meets the same device on both sides (rule 3
        settled or contested those), so a pair is compatible when either side has
        no device: a manifest row without one may be any row of its name; one with
        a device only a row without one.
        """
        m, i = self.m, self.i
        m_rows, i_rows = self.open_m(m.name), self.open_i(i.name)
        m_code, i_code, n_codes = codes(m.name.take(m_rows), i.name.take(i_rows))
        m_bare, i_bare = ~valid(m.device)[m_rows], ~valid(i.device)[i_rows]
        every, bare = _Grouped(i_rows, i_code, n_codes), _Grouped(i_rows[i_bare], i_code[i_bare], n_codes)
        has = m_code >= 0
        code = np.maximum(m_code, 0)
        count_m = np.zeros(len(m_rows), dtype=np.int64)
        first_m = np.full(len(m_rows), -1, dtype=np.int64)
        if n_codes:
            count_m = np.where(has, np.where(m_bare, every.count[code], bare.count[code]), 0)
            first_m = np.where(has, np.where(m_bare, every.first[code], bare.first[code]), -1)
        wanted_by_any = np.bincount(m_code[has], minlength=n_codes)
        wanted_by_bare = np.bincount(m_code[has & m_bare], minlength=n_codes)
        count_i = np.zeros(len(i.time_ms), dtype=np.int64)
        count_i[i_rows] = np.where(i_bare, wanted_by_any[i_code], wanted_by_bare[i_code])

        def listing(wanted: np.ndarray) -> list:
            return [(every if is_bare else bare).listed(c)
                    for c, is_bare in zip(m_code[wanted].tolist(), m_bare[wanted].tolist())]
        return self.settle(rule, m_rows, count_m, first_m, i_rows, count_i, listing)

    def refine_by_time(self, rule: int, contested: np.ndarray, m_rows, m_code, i_rows, i_code) -> None:
        """Rows a rule contested may be told apart by time, among exactly those rows."""
        m, i = self.m, self.i
        if not len(contested):
            return
        in_m = np.isin(m_rows, contested) & m.has_time[m_rows]
        in_i = self.i_contested[i_rows] & (self.i_manifest[i_rows] < 0) & i.has_time[i_rows]
        if in_m.any() and in_i.any():
            self.by_time(rule, m_rows[in_m], m_code[in_m], i_rows[in_i], i_code[in_i])
        self.m_contested &= self.m_index < 0
        # A manifest row whose candidates were all taken by better-timed rows has none left:
        # it is no longer ambiguous, and goes on to the later rules.
        size = int(max(i_code.max(initial=-1), m_code.max(initial=-1))) + 1
        left = np.bincount(i_code[self.i_manifest[i_rows] < 0], minlength=size)
        waiting = np.isin(m_rows, contested) & (self.m_index[m_rows] < 0)
        released = m_rows[waiting & (left[np.maximum(m_code, 0)] == 0)]
        self.m_contested[released] = False
        # An index row stays contested only while a contested manifest row still names it.
        still = np.zeros(size, dtype=bool)
        still[m_code[waiting & self.m_contested[m_rows]]] = True
        keep = self.i_contested[i_rows] & (self.i_manifest[i_rows] < 0) & still[i_code]
        self.i_contested[i_rows] = keep
