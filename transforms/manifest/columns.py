"""Which export column holds which manifest field (`reconcile --columns`).

Evidence systems export their own column names (`Evidence ID`, `Device
Serial`, `Recorded On`, ...). A mapping names, per clipindex field, the
export's column:

    --columns "clip_id=Evidence ID,uri=File Name,device_id=Device Serial"
    --columns @mapping.toml      # or @mapping.json: the same, as a file

A file holds one flat table of field = "Export Column" (TOML needs Python
3.11+; JSON always works). A field that is not mapped is read from a column
of its own name when there is one, so clipindex's own manifests need no
mapping. Column names may hold anything but `,` and `=` inline; a file takes
any name.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

# Every manifest field, in the order of the manifest table.
FIELDS = ("uri", "clip_id", "expected_duration_s", "recorded_at", "device_id", "officer_id",
          "sha256", "size_bytes")


class ManifestProblem(Exception):
    """A manifest (or its column mapping) that cannot be used (exit 2)."""


@dataclasses.dataclass(frozen=True)
class Where:
    """Names a manifest column in messages: the export's name, and the field it feeds."""

    manifest: str   # the file's base name
    column: str     # the export's column
    field: str      # the clipindex field

    @property
    def label(self) -> str:
        return f"`{self.column}`" if self.column == self.field else f"`{self.column}` ({self.field})"

    def problem(self, index: int, what: str, value) -> ManifestProblem:
        """The one line for a bad value at 0-based data row `index` (row 1 is the header line)."""
        return ManifestProblem(f"manifest {self.manifest} row {index + 2} column {self.label}: {what}: {value!r}")


def _from_file(path: str) -> dict:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ManifestProblem(f"cannot read column mapping {path}: {exc.strerror}") from None
    name = os.path.basename(path)
    if path.lower().endswith(".toml"):
        try:
            import tomllib
        except ImportError:
            raise ManifestProblem(f"column mapping {name}: TOML needs Python 3.11+; write it as JSON") from None
        try:
            loaded = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ManifestProblem(f"column mapping {name} is not valid TOML: {exc}") from None
    else:
        try:
            loaded = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ManifestProblem(f"column mapping {name} is not valid JSON (or name it .toml): {exc}") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
        raise ManifestProblem(f"column mapping {name} must be one flat table of field = \"Export Column\"")
    return loaded


def _from_text(spec: str) -> dict:
    mapping = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        field, sep, column = part.partition("=")
        if not sep or not column.strip():
            raise ManifestProblem(f"--columns: {part.strip()!r} should look like field=Export Column")
        if field.strip() in mapping:
            raise ManifestProblem(f"--columns: {field.strip()} is mapped twice")
        mapping[field.strip()] = column.strip()
    return mapping


def parse_mapping(spec: Optional[str]) -> dict[str, str]:
    """field -> export column, from `--columns` text or `@FILE`; validated against FIELDS."""
    if not spec:
        return {}
    mapping = _from_file(spec[1:]) if spec.startswith("@") else _from_text(spec)
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise ManifestProblem(f"--columns: unknown field {', '.join(unknown)} (fields: {', '.join(FIELDS)})")
    columns = list(mapping.values())
    doubled = sorted({c for c in columns if columns.count(c) > 1})
    if doubled:
        raise ManifestProblem(f"--columns: column `{doubled[0]}` is mapped to two fields")
    return {field: column.strip() for field, column in mapping.items()}


def resolve_columns(mapping: dict[str, str], present: list[str], manifest: str) -> dict[str, str]:
    """field -> the manifest's column that feeds it (mapped, else a column of the field's name)."""
    missing = [c for c in mapping.values() if c not in present]
    if missing:
        raise ManifestProblem(f"manifest {manifest}: no column `{missing[0]}` (mapped by --columns; has: "
                              f"{', '.join(present)})")
    resolved = dict(mapping)
    taken = set(mapping.values())
    for field in FIELDS:
        if field not in resolved and field in present and field not in taken:
            resolved[field] = field
    return resolved
