"""Durations and sizes as evidence systems write them, parsed a column at a time.

Every parser takes a string column (trimmed, null where the cell is empty)
and returns numpy arrays: the value and its *unit*, the precision the export
gave it to (a `Duration` of `00:04:07` is given to 1 s, `47.8 MB` to 0.1 MB
= 100,000 bytes). Reconcile widens its tolerances by that unit: the export
may have rounded or truncated, so the true value can be up to one unit away.
A non-empty value that does not parse raises ManifestProblem naming the row,
the column and the value. Regular expressions run in Arrow (RE2), the
arithmetic in numpy: no Python call per row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.manifest_columns import Where

# seconds, or [H:]MM:SS, each with an optional fraction
_DURATION = r"^(?:(?:(?P<h>\d+):)?(?P<m>\d+):)?(?P<s>\d*)(?:\.(?P<f>\d*))?$"
# a number and an optional unit: B, KB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB (1024)
_SIZE = r"(?i)^(?P<n>\d*)(?:\.(?P<f>\d*))?\s*(?P<u>[kmgt]?i?b|bytes?|)$"
SIZE_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
              "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def groups(strings: pa.Array, pattern: str) -> tuple[np.ndarray, dict[str, pa.Array]]:
    """(matched mask, {group: string array}) of a regex over a string column (nulls do not match)."""
    found = pc.extract_regex(strings, pattern)
    matched = found.is_valid().to_numpy(zero_copy_only=False)
    filled = found.fill_null({name: "" for name in (f.name for f in found.type)}) if found.null_count \
        else found
    return matched, {f.name: filled.field(f.name) for f in found.type}


def first_bad(strings: pa.Array, ok: np.ndarray) -> int | None:
    """Index of the first non-null value that is not ok, or None."""
    present = strings.is_valid().to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(present & ~ok)
    return int(bad[0]) if len(bad) else None


def as_int(strings: pa.Array) -> np.ndarray:
    """Digit strings (possibly empty: 0) as int64."""
    padded = pc.binary_join_element_wise("0", strings, "")  # "" -> "0", "07" -> "007"
    return pc.cast(padded, pa.int64()).to_numpy(zero_copy_only=False)


def decimal(whole: pa.Array, digits: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """("65", "25") -> (65.25, its unit 0.01); empty parts are 0 and a missing fraction has unit 1."""
    text = pc.binary_join_element_wise("0", whole, ".", digits, "0", "")  # "065.250", "0.0"
    value = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    unit = 10.0 ** -pc.utf8_length(digits).to_numpy(zero_copy_only=False).astype(np.float64)
    return value, unit


def parse_durations(strings: pa.Array, where: Where) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and their unit (nan where empty) from `65`, `65.25`, `1:05`, `01:01:05.250`."""
    matched, part = groups(strings, _DURATION)
    hours, minutes = as_int(part["h"]), as_int(part["m"])
    seconds, unit = decimal(part["s"], part["f"])
    has_colon = pc.utf8_length(part["m"]).to_numpy(zero_copy_only=False) > 0
    has_hours = pc.utf8_length(part["h"]).to_numpy(zero_copy_only=False) > 0
    has_number = (pc.utf8_length(part["s"]).to_numpy(zero_copy_only=False)
                  + pc.utf8_length(part["f"]).to_numpy(zero_copy_only=False)) > 0
    ok = matched & has_number & ~(has_colon & (seconds >= 60)) & ~(has_hours & (minutes >= 60))
    if (bad := first_bad(strings, ok)) is not None:
        raise where.problem(bad, "not a number of seconds or [H:]MM:SS[.fff]", strings[bad].as_py())
    value = hours * 3600.0 + minutes * 60.0 + seconds
    empty = ~strings.is_valid().to_numpy(zero_copy_only=False)
    value[empty] = np.nan
    unit[empty] = np.nan
    return value, unit


def parse_sizes(strings: pa.Array, where: Where) -> tuple[np.ndarray, np.ndarray]:
    """Bytes (nan where empty) and their unit from `48213`, `47.8 MB`, `12 KiB`, `1.2GB`."""
    matched, part = groups(strings, _SIZE)
    units = pc.utf8_lower(part["u"])
    multiplier = pc.index_in(units, value_set=pa.array(list(SIZE_UNITS)))
    ok = matched & multiplier.is_valid().to_numpy(zero_copy_only=False) & (
        (pc.utf8_length(part["n"]).to_numpy(zero_copy_only=False)
         + pc.utf8_length(part["f"]).to_numpy(zero_copy_only=False)) > 0)
    if (bad := first_bad(strings, ok)) is not None:
        raise where.problem(bad, "not a size (a number with B, KB, MB, GB, KiB, MiB or GiB; "
                                 "no thousands separators)", strings[bad].as_py())
    factors = np.array(list(SIZE_UNITS.values()), dtype=np.float64)
    factor = factors[multiplier.fill_null(0).to_numpy(zero_copy_only=False)]
    number, unit = decimal(part["n"], part["f"])
    value = np.round(number * factor)
    unit = unit * factor
    empty = ~strings.is_valid().to_numpy(zero_copy_only=False)
    value[empty] = np.nan
    unit[empty] = np.nan
    return value, unit


def numeric_column(column: pa.ChunkedArray, whole_unit: float) -> tuple[np.ndarray, np.ndarray] | None:
    """A typed Parquet column used as is: (values, units), or None when it holds strings.

    Integers are taken as given to `whole_unit` (a whole number of seconds may be
    rounded); floating-point values carry no stated precision (unit 0).
    """
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
        return None
    values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    unit = np.full(len(values), whole_unit if pa.types.is_integer(kind) else 0.0)
    unit[np.isnan(values)] = np.nan
    return values, unit
