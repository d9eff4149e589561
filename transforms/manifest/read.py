"""Manifests exported by evidence systems: CSV or Parquet, validated strictly.

A bad manifest is bad input (exit 2) and the message names the row and the
column, so whoever exported it can fix it. Columns are found through a
mapping (transforms/manifest/columns.py) and parsed a column at a time in
Arrow and numpy (manifest_values.py, manifest_times.py): a million rows take
seconds, not minutes.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from transforms.manifest.columns import ManifestProblem, Where, resolve_columns
from transforms.manifest.times import naive_count, parse_times, typed_times
from transforms.manifest.values import numeric_column, parse_durations, parse_sizes
from transforms.storage.readers import is_remote

__all__ = ["MANIFEST_SCHEMA", "ManifestProblem", "read_manifest"]

MANIFEST_SCHEMA = pa.schema([
    ("uri", pa.string()),
    ("clip_id", pa.string()),
    ("expected_duration_s", pa.float64()),
    ("recorded_at", pa.timestamp("us", tz="UTC")),
    ("device_id", pa.string()),
    ("officer_id", pa.string()),
    ("sha256", pa.string()),
    ("size_bytes", pa.int64()),
    # The precision each value was given to (a duration in whole seconds: 1.0), null when empty.
    ("duration_unit_s", pa.float64()),
    ("recorded_at_unit_s", pa.float64()),
    ("size_unit_bytes", pa.float64()),
])
_TEXT_FIELDS = ("clip_id", "device_id", "officer_id", "sha256")
NAIVE_TIMES = b"clipindex.naive_times"  # table metadata: how many times had no offset


def _open_bytes(path: str) -> bytes:
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems

        try:
            with FileSystems.open(path, compression_type="uncompressed") as handle:
                return handle.read()
        except (OSError, FileNotFoundError) as exc:
            raise ManifestProblem(f"cannot read manifest {path}: {exc}") from None
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ManifestProblem(f"cannot read manifest {path}: {exc.strerror}") from None


def _read_csv(data: bytes, path: str) -> pa.Table:
    """Every column as text: what a value means is decided by its field's parser."""
    data = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    not_utf8 = ManifestProblem(f"manifest {path} is not UTF-8 text (CSV) or Parquet")
    try:
        end = data.find(b"\n")
        first_line = data[: end if end >= 0 else len(data)].decode("utf-8")
    except UnicodeDecodeError:
        raise not_utf8 from None
    header = next(csv.reader([first_line]), None)
    if not header:
        raise ManifestProblem(f"manifest {path} is empty")
    names = [name.strip() for name in header]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ManifestProblem(f"manifest {os.path.basename(path)}: column `{doubled[0]}` appears twice")
    try:
        return pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False))
    except pa.ArrowInvalid as exc:
        if "UTF8" in str(exc):
            raise not_utf8 from None
        raise ManifestProblem(f"manifest {os.path.basename(path)}: not a readable CSV ({exc})") from None


def _read_raw(path: str) -> pa.Table:
    data = _open_bytes(path)
    if data[:4] != b"PAR1":
        return _read_csv(data, path)
    try:
        return pq.read_table(pa.BufferReader(data))
    except pa.ArrowException as exc:
        raise ManifestProblem(f"manifest {path} is not a readable Parquet file ({exc})") from None


def _text(column: pa.ChunkedArray) -> pa.Array:
    """Trimmed text, null where the cell is empty."""
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    trimmed = pc.utf8_trim_whitespace(pc.cast(column.combine_chunks(), pa.string()))
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _resolve_uris(uris: pa.Array, manifest_path: str, resolve_names: bool,
                  root: Optional[str] = None) -> pa.Array:
    """Relative uris are relative to `root` when given, else to the manifest's own folder.

    A bare file name (no folder part) is resolved only when `resolve_names`
    (index needs a file to read); reconcile keeps it as a name to match on.
    """
    remote = pc.match_substring(uris, "://").to_numpy(zero_copy_only=False)
    absolute = pc.starts_with(uris, "/").to_numpy(zero_copy_only=False)
    has_folder = pc.match_substring(uris, "/").to_numpy(zero_copy_only=False)
    todo = uris.is_valid().to_numpy(zero_copy_only=False) & ~remote & ~absolute & (has_folder | resolve_names)
    if not todo.any():
        return uris
    if root is not None:
        base = root.rstrip("/") if is_remote(root) else os.path.abspath(os.path.expanduser(root))
    elif is_remote(manifest_path):
        base = manifest_path.rsplit("/", 1)[0]
    else:
        base = os.path.dirname(os.path.abspath(manifest_path))
    values = uris.to_numpy(zero_copy_only=False).astype(object)
    joined = pc.binary_join_element_wise(base, pa.array(values[todo], pa.string()), "/")
    if not is_remote(base):  # ./ and ../ as os.path.abspath would (only where present)
        messy = pc.match_substring_regex(joined, r"/\.\.?(/|$)|//").to_numpy(zero_copy_only=False)
        joined = joined.to_numpy(zero_copy_only=False).astype(object)
        joined[messy] = [os.path.normpath(p) for p in joined[messy]]
    values[todo] = np.asarray(joined, dtype=object)
    return pa.array(values, pa.string())


def _check_unique(values: pa.Array, eligible: np.ndarray, where: Where) -> None:
    """A key value listed twice: name both rows."""
    codes = pc.dictionary_encode(values).indices.fill_null(-1).to_numpy(zero_copy_only=False)
    codes = np.where(eligible, codes, -1)
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    repeated = (ordered[1:] == ordered[:-1]) & (ordered[1:] >= 0)
    if repeated.any():
        position = np.flatnonzero(repeated)
        rows = order[position + 1]
        second = int(rows.min())
        first = int(order[np.searchsorted(ordered, codes[second])])
        raise ManifestProblem(f"manifest {where.manifest} row {second + 2} column {where.label}: duplicate of "
                              f"row {first + 2} ({values[second].as_py()})")


def _key_field(columns: dict[str, str], present: list[str], name: str, can_map: bool) -> str:
    for field in ("uri", "clip_id"):
        if field in columns:
            return field
    how = "or a mapping to one with --columns" if can_map else "(index reads a `uri` column as it is named)"
    raise ManifestProblem(f"manifest {name}: needs a `uri` or `clip_id` column, {how} (has: {', '.join(present)})")


def read_manifest(path: str, require_duration: bool = False, mapping: Optional[dict[str, str]] = None,
                  zone: Optional[dt.tzinfo] = None, resolve_names: bool = True,
                  root: Optional[str] = None, can_map: bool = True) -> pa.Table:
    """Validated manifest rows as an Arrow table with MANIFEST_SCHEMA.

    mapping: field -> export column (`--columns`); zone: of times without an offset;
    root: the folder relative uris are resolved from (`--manifest-root`; default: the
    manifest's own folder); can_map: the command has --columns (reconcile does, index not).
    """
    raw = _read_raw(path)
    name = os.path.basename(path)
    columns = resolve_columns(mapping or {}, raw.column_names, name)
    key = _key_field(columns, raw.column_names, name, can_map)
    if require_duration and "expected_duration_s" not in columns:
        raise ManifestProblem(f"manifest {name}: missing column `expected_duration_s` (or map one with --columns)")
    if raw.num_rows == 0:
        raise ManifestProblem(f"manifest {name} lists no clips")
    where = {field: Where(name, column, field) for field, column in columns.items()}
    out = {field: pa.nulls(raw.num_rows, MANIFEST_SCHEMA.field(field).type) for field in MANIFEST_SCHEMA.names}
    for field in ("uri", *_TEXT_FIELDS):
        if field in columns:
            out[field] = _text(raw.column(columns[field]))
    key_values = out[key]
    if (empty := np.flatnonzero(~key_values.is_valid().to_numpy(zero_copy_only=False))).size:
        raise ManifestProblem(f"manifest {name} row {int(empty[0]) + 2} column {where[key].label}: empty")
    if "uri" in columns:
        out["uri"] = _resolve_uris(out["uri"], path, resolve_names, root)
        path_like = pc.match_substring(out["uri"], "/").to_numpy(zero_copy_only=False)
        _check_unique(out["uri"], path_like, where["uri"])
    else:
        _check_unique(out["clip_id"], np.ones(raw.num_rows, dtype=bool), where["clip_id"])
    _parse_measures(raw, columns, where, zone, out)
    table = pa.Table.from_pydict(out, schema=MANIFEST_SCHEMA)
    naive = naive_count(raw.column(columns["recorded_at"])) if "recorded_at" in columns else 0
    # Read by reconcile, which warns when these were taken as UTC for want of --manifest-tz.
    return table.replace_schema_metadata({NAIVE_TIMES: str(naive)})


def _parse_measures(raw: pa.Table, columns: dict, where: dict, zone, out: dict) -> None:
    if "expected_duration_s" in columns:
        column = raw.column(columns["expected_duration_s"])
        seconds, unit = numeric_column(column, 1.0) or parse_durations(_text(column), where["expected_duration_s"])
        if (bad := np.flatnonzero(seconds < 0)).size:
            raise where["expected_duration_s"].problem(int(bad[0]), "a negative duration", float(seconds[bad[0]]))
        out["expected_duration_s"] = pa.array(seconds, pa.float64(), from_pandas=True)
        out["duration_unit_s"] = pa.array(unit, pa.float64(), from_pandas=True)
    if "size_bytes" in columns:
        column = raw.column(columns["size_bytes"])
        size, unit = numeric_column(column, 1.0) or parse_sizes(_text(column), where["size_bytes"])
        out["size_bytes"] = pc.cast(pa.array(size, pa.float64(), from_pandas=True), pa.int64())
        out["size_unit_bytes"] = pa.array(unit, pa.float64(), from_pandas=True)
    if "recorded_at" in columns:
        column = raw.column(columns["recorded_at"])
        times, unit = typed_times(column, zone) or parse_times(_text(column), where["recorded_at"], zone)
        out["recorded_at"] = times
        out["recorded_at_unit_s"] = pa.array(unit, pa.float64(), from_pandas=True)
