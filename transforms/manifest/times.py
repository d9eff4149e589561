"""Timestamps as exports write them, and local days, a column at a time.

Accepted (per value, so one column may mix them):

- ISO 8601: `2026-01-05T07:00:00Z`, `2026-01-05 01:00:00.250-06:00`, `2026-01-05`;
- US: `01/05/2026 07:00:00 AM`, `1/5/2026 7:00 PM`, `01/05/2026 19:00` (month first);
- compact: `20260105070000` (yyyyMMddHHmmss, as public datasets write it).

A value with an offset (or `Z`) is exact; one without is wall-clock time in
`--manifest-tz` (default UTC). Each value also gets its unit: a time given to
the minute may be up to 60 s from the truth, and reconcile widens its time
window by that. Zone offsets come from Python's zoneinfo, looked up once per
distinct quarter hour (clocks change on quarter hours), not once per row.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.manifest.columns import Where
from transforms.manifest.values import first_bad

US_PER_S = 1_000_000
_QUARTER_US = 15 * 60 * US_PER_S
_DATE_US = r"^\d{1,2}/\d{1,2}/\d{4}"
# (shape without capture groups: fast to test, a million rows in well under a second; unit in seconds, formats)
US_FORMATS = [
    (_DATE_US + r"$", 86_400.0, "%m/%d/%Y"),
    (_DATE_US + r"\s+\d{1,2}:\d{2}\s*[AaPp][Mm]$", 60.0, "%m/%d/%Y %I:%M %p"),
    (_DATE_US + r"\s+\d{1,2}:\d{2}:\d{2}\s*[AaPp][Mm]$", 1.0, "%m/%d/%Y %I:%M:%S %p"),
    (_DATE_US + r"\s+\d{1,2}:\d{2}$", 60.0, "%m/%d/%Y %H:%M"),
    (_DATE_US + r"\s+\d{1,2}:\d{2}:\d{2}$", 1.0, "%m/%d/%Y %H:%M:%S"),
]
_COMPACT = r"^\d{14}$"
_ISO = r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?:\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?))?$"
_ISO_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


def get_zone(name: str) -> dt.tzinfo:
    """A zone by IANA name (ValueError when unknown): `UTC`, `America/Chicago`."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as America/Chicago)") from None


def _offsets_us(bucket_us: np.ndarray, zone: dt.tzinfo, wall: bool) -> np.ndarray:
    """The zone's UTC offset at each time (UTC, or wall-clock when `wall`), per quarter hour."""
    quarters, inverse = np.unique(bucket_us // _QUARTER_US, return_inverse=True)
    epoch = dt.datetime(1970, 1, 1)
    offsets = np.empty(len(quarters), dtype=np.int64)
    for i, quarter in enumerate(quarters.tolist()):
        moment = epoch + dt.timedelta(microseconds=quarter * _QUARTER_US)
        moment = moment.replace(tzinfo=zone) if wall else moment.replace(tzinfo=dt.timezone.utc).astimezone(zone)
        offsets[i] = moment.utcoffset() // dt.timedelta(microseconds=1)
    return offsets[inverse]


def wall_to_utc(wall_us: np.ndarray, zone: Optional[dt.tzinfo]) -> np.ndarray:
    """Wall-clock times in `zone` -> UTC. In the hour clocks go back, the first occurrence."""
    if zone is None or len(wall_us) == 0:
        return wall_us
    return wall_us - _offsets_us(wall_us, zone, wall=True)


def local_dates(utc_us: np.ndarray, zone: Optional[dt.tzinfo]) -> np.ndarray:
    """The calendar day (datetime64[D]) in `zone` of each UTC time."""
    local = utc_us if zone is None or len(utc_us) == 0 else utc_us + _offsets_us(utc_us, zone, wall=False)
    return np.floor_divide(local, 86_400 * US_PER_S).astype("datetime64[D]")


def _matches(strings: pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(strings, pattern), False).to_numpy(zero_copy_only=False)


def _as_us(times: pa.Array) -> np.ndarray:
    return pc.cast(pc.cast(times, pa.timestamp("us")), pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)


def _sliced_int(strings: pa.Array, start: int, stop: int) -> np.ndarray:
    return pc.cast(pc.utf8_slice_codeunits(strings, start, stop), pa.int64()).to_numpy(zero_copy_only=False)


def _first_unparsable(strings: pa.Array, kind: pa.DataType) -> int:
    """Only on the way to an error: which value a strict cast refused."""
    for position, value in enumerate(strings.to_pylist()):
        try:
            pa.array([value], pa.string()).cast(kind)
        except pa.ArrowInvalid:
            return position
    return 0


def _iso(strings: pa.Array, where: Where, rows: np.ndarray, zone) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 through Arrow's strict cast (it refuses 2026-02-30); the unit from the text."""
    text = pc.replace_substring(pc.utf8_upper(strings), ",", ".")
    text = pc.replace_substring_regex(text, r"\s+([-+Z])", r"\1")
    offset = _matches(text, _ISO_OFFSET)
    utc_us = np.zeros(len(strings), dtype=np.int64)
    for aware, kind in ((True, pa.timestamp("us", tz="UTC")), (False, pa.timestamp("us"))):
        chosen = pa.array(np.flatnonzero(offset == aware))
        subset = text.take(chosen)
        try:
            parsed = _as_us(subset.cast(kind))
        except pa.ArrowInvalid:
            bad = int(chosen[_first_unparsable(subset, kind)].as_py())
            raise where.problem(int(rows[bad]), "not a valid time", strings[bad].as_py()) from None
        utc_us[chosen.to_numpy()] = parsed if aware else wall_to_utc(parsed, zone)
    seconds = _matches(text, r"T?\d{2}:\d{2}:\d{2}")
    unit = np.where(seconds, 1.0, np.where(_matches(text, r"\d{2}:\d{2}"), 60.0, 86_400.0))
    fraction = np.flatnonzero(_matches(text, r":\d{2}\.\d"))
    if len(fraction):
        digits = pc.utf8_length(pc.extract_regex(text.take(pa.array(fraction)), r":\d{2}\.(?P<f>\d+)").field("f"))
        unit[fraction] = 10.0 ** -digits.to_numpy(zero_copy_only=False).astype(np.float64)
    return utc_us, unit


def _strptime(strings: pa.Array, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    parsed = pc.strptime(strings, format=fmt, unit="us", error_is_null=True)
    return parsed.is_valid().to_numpy(zero_copy_only=False), parsed


def _us(strings: pa.Array, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """US month-first dates; strptime rolls 02/30 over into March, so month and day are checked."""
    ok, parsed = _strptime(strings, fmt)
    parts = pc.split_pattern(pc.fill_null(strings, "0/0/0"), "/", max_splits=2)
    flat, starts = pc.list_flatten(parts), parts.offsets.to_numpy()[:-1]
    month = pc.cast(flat.take(pa.array(starts)), pa.int64()).to_numpy(zero_copy_only=False)
    day = pc.cast(flat.take(pa.array(starts + 1)), pa.int64()).to_numpy(zero_copy_only=False)
    ok &= (pc.month(parsed).fill_null(0).to_numpy(zero_copy_only=False) == month)
    ok &= (pc.day(parsed).fill_null(0).to_numpy(zero_copy_only=False) == day)
    return ok, _as_us(parsed)


def _compact(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    ok, parsed = _strptime(strings, "%Y%m%d%H%M%S")
    ok &= pc.month(parsed).fill_null(0).to_numpy(zero_copy_only=False) == _sliced_int(strings, 4, 6)
    ok &= pc.day(parsed).fill_null(0).to_numpy(zero_copy_only=False) == _sliced_int(strings, 6, 8)
    return ok, _as_us(parsed)


def parse_times(strings: pa.Array, where: Where, zone: Optional[dt.tzinfo]) -> tuple[pa.Array, np.ndarray]:
    """UTC timestamps (timestamp[us, UTC], null where empty) and their unit in seconds.

    Each value's shape is told by a regular expression without capture groups (fast);
    the values of each shape are parsed by Arrow (cast, strptime) and checked.
    """
    count = len(strings)
    utc_us, unit = np.zeros(count, dtype=np.int64), np.full(count, np.nan)
    done = np.zeros(count, dtype=bool)

    def take(shape: np.ndarray, parse) -> None:
        rows = np.flatnonzero(shape & ~done)
        if len(rows):
            ok, moment_us, unit_s = parse(strings.take(pa.array(rows)), rows)
            good = rows[ok]
            utc_us[good], unit[good], done[good] = moment_us[ok], unit_s[ok], True

    take(_matches(strings, _ISO), lambda s, rows: (np.ones(len(rows), dtype=bool), *_iso(s, where, rows, zone)))
    for shape, unit_s, fmt in US_FORMATS:
        take(_matches(strings, shape),
             lambda s, rows, fmt=fmt, unit_s=unit_s: _wall(_us(s, fmt), zone, unit_s))
    take(_matches(strings, _COMPACT), lambda s, rows: _wall(_compact(s), zone, 1.0))
    if (bad := first_bad(strings, done)) is not None:
        raise where.problem(bad, "not a time (ISO 8601, MM/DD/YYYY hh:mm[:ss] AM or yyyyMMddHHmmss)",
                            strings[bad].as_py())
    return pa.array(utc_us, type=pa.timestamp("us", tz="UTC"), mask=~done), unit


def _wall(parsed: tuple[np.ndarray, np.ndarray], zone, unit_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ok, wall_us = parsed
    utc_us = wall_us.copy()
    utc_us[ok] = wall_to_utc(wall_us[ok], zone)
    return ok, utc_us, np.full(len(ok), unit_s)


def typed_times(column: pa.ChunkedArray, zone: Optional[dt.tzinfo]) -> Optional[tuple[pa.Array, np.ndarray]]:
    """A Parquet timestamp column as UTC (naive ones are wall-clock in `zone`), or None."""
    if not pa.types.is_timestamp(column.type):
        return None
    values = pc.cast(column.combine_chunks(), pa.timestamp("us", tz=column.type.tz))
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    raw = pc.cast(values, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
    utc_us = raw if column.type.tz else wall_to_utc(raw, zone)
    unit = np.where(valid, 0.0, np.nan)
    return pa.array(utc_us, type=pa.timestamp("us", tz="UTC"), mask=~valid), unit


def naive_count(column: pa.ChunkedArray) -> int:
    """Times written without an offset (wall-clock: their zone is --manifest-tz, else UTC)."""
    if pa.types.is_timestamp(column.type):
        return 0 if column.type.tz else len(column) - column.null_count
    text = pc.utf8_trim_whitespace(pc.cast(column.combine_chunks(), pa.string()))
    given = pc.and_(pc.is_valid(text), pc.not_equal(text, ""))
    aware = pc.match_substring_regex(text, _ISO_OFFSET)
    return pc.sum(pc.and_(given, pc.invert(pc.fill_null(aware, False)))).as_py() or 0
