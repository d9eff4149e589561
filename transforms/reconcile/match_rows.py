"""Which index row each manifest row is: rules tried in order, and never a guess.

Rules, most specific first; each sees only the rows no earlier rule settled:

1. `uri`: the same uri;
2. `clip_id`: the manifest's clip_id is clipindex's;
3. `device and file name`: the same device and file name (stem, case-blind);
   when that names several rows, `device, file name and time` (the
   manifest's time within its window of the clip's `recorded_at`) may single
   one out among exactly those rows;
4. `device and time`: the same device, and the clip's `recorded_at` within
   the manifest row's window (--time-tolerance-s plus the unit its time was
   given to);
5. `file name`: the same file name, when no device contradicts it.

At each rule a manifest row and an index row are matched only when each is
the other's one and only candidate. A row with several candidates (either
way round) is *contested*: it leaves the rules with its candidates noted and
ends `ambiguous`, listed with them. Contested rows take no part in later
rules, so a later, looser rule cannot pick among them either. Work is done a
column at a time (Arrow dictionary codes, numpy counts and sorts).
"""

from __future__ import annotations

import dataclasses
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.reconcile.match_state import Matcher, Side, codes

RULES = ("uri", "clip_id", "device and file name", "device, file name and time", "device and time", "file name")


@dataclasses.dataclass
class Matches:
    m_index: np.ndarray      # per manifest row: the index row it is, or -1
    m_rule: np.ndarray       # per manifest row: position in RULES, or -1
    i_manifest: np.ndarray   # per index row: the manifest row it is, or -1
    m_ambiguous: np.ndarray
    i_ambiguous: np.ndarray
    candidates: dict[int, tuple[str, int, list[int]]]  # ambiguous manifest row -> (rule, count, first rows)


def name_key(values: pa.Array) -> pa.Array:
    """`/x/DEV01/GX010001.MP4` -> `gx010001`: what a file is called, wherever it lies."""
    stem = pc.replace_substring_regex(pc.replace_substring_regex(values, r"^.*[/\\]", ""), r"\.[^.]*$", "")
    return _null_if_empty(pc.utf8_lower(stem))


def device_key(values: pa.Array) -> pa.Array:
    return _null_if_empty(pc.utf8_lower(pc.utf8_trim_whitespace(values)))


def _null_if_empty(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)




def match_rows(m: Side, i: Side) -> Matches:
    """Apply the rules in order (see the module docstring)."""
    matcher = Matcher(m, i, RULES)
    matcher.by_equal_key(0, m.uri, i.uri)
    matcher.by_equal_key(1, m.clip_id, i.clip_id)
    m_device_name = pc.binary_join_element_wise(m.device, m.name, "\x1f")  # null if either is
    i_device_name = pc.binary_join_element_wise(i.device, i.name, "\x1f")
    contested, m_rows, m_code, i_rows, i_code = matcher.by_equal_key(2, m_device_name, i_device_name)
    matcher.refine_by_time(3, contested, m_rows, m_code, i_rows, i_code)
    m_rows, i_rows = matcher.open_m(m.device, m.has_time), matcher.open_i(i.device, i.has_time)
    m_code, i_code, _ = codes(m.device.take(m_rows), i.device.take(i_rows))
    known = m_code >= 0  # a device the index does not have cannot match by time
    matcher.by_time(4, m_rows[known], m_code[known], i_rows, i_code)
    matcher.by_name(5)
    m_ambiguous = matcher.m_contested & (matcher.m_index < 0)
    i_ambiguous = matcher.i_contested & (matcher.i_manifest < 0)
    return Matches(matcher.m_index, matcher.m_rule, matcher.i_manifest, m_ambiguous, i_ambiguous,
                   matcher.list_candidates(m_ambiguous))


def make_side(uri: pa.Array, clip_id: pa.Array, device: pa.Array, recorded_at: pa.Array,
              names_from: pa.Array, window_s: np.ndarray | None = None) -> Side:
    """A side's keys from its columns; window_s: per row, how far a time may be (manifest side)."""
    has_time = recorded_at.is_valid().to_numpy(zero_copy_only=False)
    time_us = pc.cast(recorded_at, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    window = np.zeros(len(uri)) if window_s is None else np.nan_to_num(window_s, nan=0.0)
    return Side(uri=uri, clip_id=clip_id, name=name_key(names_from), device=device_key(device),
                time_ms=np.floor_divide(time_us, 1000), has_time=has_time,
                window_ms=np.ceil(window * 1000).astype(np.int64))
