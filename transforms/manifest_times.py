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

from transforms.manifest_columns import Where
from transforms.manifest_values import as_int, decimal, first_bad, groups

US_PER_S = 1_000_000
_QUARTER_US = 15 * 60 * US_PER_S
_TIME = r"(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?)?"
_ISO = r"^(?P<Y>\d{4})-(?P<M>\d{2})-(?P<D>\d{2})" + _TIME + r"\s*(?P<z>[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
_US = (r"^(?P<M>\d{1,2})/(?P<D>\d{1,2})/(?P<Y>\d{4})(?:\s+(?P<h>\d{1,2}):(?P<mi>\d{2})"
       r"(?::(?P<s>\d{2})(?:\.(?P<f>\d+))?)?\s*(?P<ap>[AaPp][Mm])?)?$")
_COMPACT = r"^(?P<Y>\d{4})(?P<M>\d{2})(?P<D>\d{2})(?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})(?P<f>)$"
_MONTH_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def get_zone(name: str) -> dt.tzinfo:
    """A zone by IANA name (ValueError when unknown): `UTC`, `America/Chicago`."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as America/Chicago)") from None


def days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm), vectorised."""
    year = year - (month <= 2)
    era = np.floor_divide(year, 400)
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _valid_date(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    ok_month = (month >= 1) & (month <= 12)
    last = _MONTH_DAYS[np.clip(month, 1, 12) - 1] + (leap & (month == 2))
    return ok_month & (day >= 1) & (day <= last)


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


def _one_format(strings: pa.Array, pattern: str) -> tuple[np.ndarray, ...]:
    """(matched, valid, wall or utc µs, unit s, has_offset) for the values this pattern reads."""
    matched, part = groups(strings, pattern)
    year, month, day = as_int(part["Y"]), as_int(part["M"]), as_int(part["D"])
    hour, minute = as_int(part["h"]), as_int(part["mi"])
    seconds, unit = decimal(part["s"], part["f"])
    has_time = pc.utf8_length(part["h"]).to_numpy(zero_copy_only=False) > 0
    has_seconds = pc.utf8_length(part["s"]).to_numpy(zero_copy_only=False) > 0
    unit = np.where(has_seconds, unit, np.where(has_time, 60.0, 86_400.0))
    valid = _valid_date(year, month, day) & (minute < 60) & (seconds < 60)
    if "ap" in part:
        ampm = pc.utf8_lower(part["ap"]).to_numpy(zero_copy_only=False)
        twelve = ampm != ""
        valid &= np.where(twelve, (hour >= 1) & (hour <= 12), hour < 24)
        hour = np.where(twelve, hour % 12 + 12 * (ampm == "pm"), hour)
    valid &= hour < 24
    moment_us = (days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60) * US_PER_S \
        + np.round(seconds * US_PER_S).astype(np.int64)
    has_offset = np.zeros(len(matched), dtype=bool)
    if "z" in part:
        moment_us, has_offset = _apply_offsets(moment_us, pc.replace_substring(part["z"], ":", ""))
    return matched, valid, moment_us, unit, has_offset


def _apply_offsets(moment_us: np.ndarray, zones: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """`Z`, `+01:00`, `-0600`, `+05` -> UTC; values without one stay wall-clock."""
    has_offset = pc.not_equal(zones, "").to_numpy(zero_copy_only=False)
    _, part = groups(zones, r"^(?P<sign>[+-])(?P<oh>\d{2})(?P<om>\d{2})?$")  # Z: no match, offset 0
    sign = np.where(pc.equal(part["sign"], "-").to_numpy(zero_copy_only=False), -1, 1)
    offset_s = sign * (as_int(part["oh"]) * 3600 + as_int(part["om"]) * 60)
    return moment_us - offset_s * US_PER_S, has_offset


def parse_times(strings: pa.Array, where: Where, zone: Optional[dt.tzinfo]) -> tuple[pa.Array, np.ndarray]:
    """UTC timestamps (timestamp[us, UTC], null where empty) and their unit in seconds."""
    count = len(strings)
    utc_us = np.zeros(count, dtype=np.int64)
    unit = np.full(count, np.nan)
    done = np.zeros(count, dtype=bool)
    for pattern in (_ISO, _US, _COMPACT):
        matched, valid, moment_us, unit_s, has_offset = _one_format(strings, pattern)
        take = matched & valid & ~done
        wall = take & ~has_offset
        if wall.any():
            moment_us[wall] = wall_to_utc(moment_us[wall], zone)
        utc_us[take], unit[take] = moment_us[take], unit_s[take]
        done |= take
    if (bad := first_bad(strings, done)) is not None:
        raise where.problem(bad, "not a time (ISO 8601, MM/DD/YYYY hh:mm[:ss] AM or yyyyMMddHHmmss)",
                            strings[bad].as_py())
    times = pa.array(utc_us, type=pa.timestamp("us", tz="UTC"), mask=~done)
    return times, unit


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
