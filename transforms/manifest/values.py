"""Durations and sizes as evidence systems write them, parsed a column at a time.

Every parser takes a string column (trimmed, null where the cell is empty)
and returns numpy arrays: the value and its *unit*, the precision the export
gave it to (a `Duration` of `00:04:07` is given to 1 s, `47.8 MB` to 0.1 MB
= 100,000 bytes). Reconcile widens its tolerances by that unit: the export
may have rounded or truncated, so the true value can be up to one unit away.
A non-empty value that does not parse raises ManifestProblem naming the row,
the column and the value. Shapes are checked with regular expressions
without capture groups (Arrow/RE2 tests them fast; extracting groups is ten
times slower), values split and cast by Arrow, the arithmetic in numpy: no
Python call per row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.manifest.columns import Where

# The shapes, without capture groups (fast to test): seconds or [H:]MM:SS, each with a fraction;
# a number and an optional unit: B, KB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB (1024).
_DURATION = r"^(?:(?:\d+:)?\d+:)?(?:\d+(?:\.\d*)?|\.\d+)$"
_SIZE = r"(?i)^(?:\d+(?:\.\d*)?|\.\d+)\s*(?:[kmgt]i?b|b|bytes?)?$"
SIZE_UNITS = {"": 1, "b": 1, "byte": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
              "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def matches(strings: pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(strings, pattern), False).to_numpy(zero_copy_only=False)


def _float(strings: pa.Array) -> np.ndarray:
    return pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)


def _unit_of_decimals(numbers: pa.Array) -> np.ndarray:
    """`65.25` -> 0.01, `65` -> 1: the precision a number was written to."""
    dot = pc.find_substring(numbers, ".").to_numpy(zero_copy_only=False)
    length = pc.utf8_length(numbers).to_numpy(zero_copy_only=False)
    return np.where(dot >= 0, 10.0 ** -(length - dot - 1).astype(np.float64), 1.0)


def first_bad(strings: pa.Array, ok: np.ndarray) -> int | None:
    """Index of the first non-null value that is not ok, or None."""
    present = strings.is_valid().to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(present & ~ok)
    return int(bad[0]) if len(bad) else None


def parse_durations(strings: pa.Array, where: Where) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and their unit (nan where empty) from `65`, `65.25`, `1:05`, `01:01:05.250`."""
    ok = matches(strings, _DURATION)
    text = pc.if_else(pa.array(ok), strings, pa.scalar("0", pa.string()))
    parts = pc.split_pattern(pc.binary_join_element_wise("0:0:", text, ""), ":")  # at least 3 parts
    flat, ends = pc.list_flatten(parts), parts.offsets.to_numpy()[1:]
    seconds_text = pc.replace_substring_regex(flat.take(pa.array(ends - 1)), r"^\.", "0.")
    hours, minutes = _float(flat.take(pa.array(ends - 3))), _float(flat.take(pa.array(ends - 2)))
    seconds = _float(seconds_text)
    colons = pc.count_substring(text, ":").to_numpy(zero_copy_only=False)
    ok &= ~((colons >= 1) & (seconds >= 60)) & ~((colons == 2) & (minutes >= 60))
    if (bad := first_bad(strings, ok)) is not None:
        raise where.problem(bad, "not a number of seconds or [H:]MM:SS[.fff]", strings[bad].as_py())
    value = hours * 3600.0 + minutes * 60.0 + seconds
    unit = _unit_of_decimals(seconds_text)
    empty = ~strings.is_valid().to_numpy(zero_copy_only=False)
    value[empty], unit[empty] = np.nan, np.nan
    return value, unit


def parse_sizes(strings: pa.Array, where: Where) -> tuple[np.ndarray, np.ndarray]:
    """Bytes (nan where empty) and their unit from `48213`, `47.8 MB`, `12 KiB`, `1.2GB`."""
    ok = matches(strings, _SIZE)
    if (bad := first_bad(strings, ok)) is not None:
        raise where.problem(bad, "not a size (a number with B, KB, MB, GB, KiB, MiB or GiB; "
                                 "no thousands separators)", strings[bad].as_py())
    text = pc.if_else(pa.array(ok), strings, pa.scalar("0", pa.string()))
    number = pc.replace_substring_regex(pc.replace_substring_regex(text, r"\s*[A-Za-z]+$", ""), r"^\.", "0.")
    units = pc.utf8_lower(pc.replace_substring_regex(text, r"^[\d.]+\s*", ""))
    factors = np.array(list(SIZE_UNITS.values()), dtype=np.float64)
    factor = factors[pc.index_in(units, value_set=pa.array(list(SIZE_UNITS))).fill_null(0).to_numpy(
        zero_copy_only=False)]
    value = np.round(_float(number) * factor)
    unit = _unit_of_decimals(number) * factor
    empty = ~strings.is_valid().to_numpy(zero_copy_only=False)
    value[empty], unit[empty] = np.nan, np.nan
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
