"""Manifests exported by evidence systems: CSV or Parquet, validated strictly.

A bad manifest is bad input (exit 2) and the message names the row and the
column, so whoever exported it can fix it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from transforms.media_io import is_remote

MANIFEST_SCHEMA = pa.schema([
    ("uri", pa.string()),
    ("clip_id", pa.string()),
    ("expected_duration_s", pa.float64()),
    ("recorded_at", pa.timestamp("us", tz="UTC")),
    ("device_id", pa.string()),
    ("officer_id", pa.string()),
    ("sha256", pa.string()),
])


class ManifestProblem(Exception):
    """A manifest that cannot be used (exit 2)."""


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


def _parse_float(value: str, where: str) -> Optional[float]:
    if value is None or value.strip() == "":
        return None
    try:
        number = float(value)
    except ValueError:
        raise ManifestProblem(f"{where}: not a number: {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ManifestProblem(f"{where}: must be a finite, non-negative number of seconds: {value!r}")
    return number


def _parse_time(value: str, where: str) -> Optional[dt.datetime]:
    if value is None or value.strip() == "":
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ManifestProblem(f"{where}: not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def _rows_from_csv(data: bytes, path: str) -> tuple[list[str], list[dict]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ManifestProblem(f"manifest {path} is not UTF-8 text (CSV) or Parquet") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        raise ManifestProblem(f"manifest {path} is empty")
    return [name.strip() for name in reader.fieldnames], [
        {(k or "").strip(): v for k, v in row.items()} for row in reader]


def _resolve_uri(uri: str, manifest_path: str, root: Optional[str] = None) -> Optional[str]:
    """Relative uris are relative to `root` when given, else to the manifest's own folder."""
    if not uri:
        return None
    if is_remote(uri) or os.path.isabs(uri):
        return uri
    base = root if root is not None else (
        manifest_path.rsplit("/", 1)[0] if is_remote(manifest_path) else os.path.dirname(manifest_path))
    if is_remote(base):
        return base.rstrip("/") + "/" + uri
    return os.path.abspath(os.path.join(os.path.expanduser(base), uri))


def read_manifest(path: str, require_duration: bool = False, root: Optional[str] = None) -> pa.Table:
    """Validated manifest rows as an Arrow table with MANIFEST_SCHEMA.

    `root`: the folder relative uris are resolved from (default: the manifest's folder).
    """
    data = _open_bytes(path)
    if data[:4] == b"PAR1":
        try:
            table = pq.read_table(pa.BufferReader(data))
        except pa.ArrowException as exc:
            raise ManifestProblem(f"manifest {path} is not a readable Parquet file ({exc})") from None
        columns = table.column_names
        rows = [{k: (None if v is None else str(v) if not isinstance(v, dt.datetime) else v.isoformat())
                 for k, v in row.items()} for row in table.to_pylist()]
    else:
        columns, rows = _rows_from_csv(data, path)
    name = os.path.basename(path)
    key = "uri" if "uri" in columns else "clip_id" if "clip_id" in columns else None
    if key is None:
        raise ManifestProblem(f"manifest {name}: needs a `uri` or `clip_id` column (has: {', '.join(columns)})")
    if require_duration and "expected_duration_s" not in columns:
        raise ManifestProblem(f"manifest {name}: missing column `expected_duration_s`")
    out = {field: [] for field in MANIFEST_SCHEMA.names}
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):  # row 1 is the header line
        where = f"manifest {name} row {number}"
        key_value = (row.get(key) or "").strip()
        if not key_value:
            raise ManifestProblem(f"{where} column `{key}`: empty")
        if key_value in seen:
            raise ManifestProblem(f"{where} column `{key}`: duplicate of row {seen[key_value]} ({key_value})")
        seen[key_value] = number
        out["uri"].append(_resolve_uri((row.get("uri") or "").strip(), path, root))
        out["clip_id"].append((row.get("clip_id") or "").strip() or None)
        out["expected_duration_s"].append(
            _parse_float(row.get("expected_duration_s"), f"{where} column `expected_duration_s`"))
        out["recorded_at"].append(_parse_time(row.get("recorded_at"), f"{where} column `recorded_at`"))
        for text_column in ("device_id", "officer_id", "sha256"):
            out[text_column].append((row.get(text_column) or "").strip() or None)
    if not rows:
        raise ManifestProblem(f"manifest {name} lists no clips")
    return pa.Table.from_pydict(out, schema=MANIFEST_SCHEMA)
