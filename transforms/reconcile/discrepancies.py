"""The discrepancy rows: one per problem input, of the most specific kind.

Each function returns an Arrow table (DISCREPANCY_SCHEMA) for one kind,
built a column at a time; only kinds that need a sentence per row (copies,
ambiguous rows, per-clip mismatches: few on a healthy night) format text in
Python. Per-clip checks widen each tolerance by the unit the export gave the
value to: a `Duration` of `00:04:07` may be 1 s from the truth, `47.8 MB`
100 kB.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import DISCREPANCY_SCHEMA
from transforms.reconcile.copies import DUPLICATE, EXCERPT, Copies
from transforms.reconcile.match_rows import Matches
from transforms.reconcile.index_side import IndexSide

ORDER = ("unreadable", "missing", "ambiguous", "unexpected", "duplicate", "excerpt", "truncated",
         "hash_mismatch", "size_mismatch", "duration_mismatch", "time_mismatch")


@dataclasses.dataclass
class Context:
    index: IndexSide
    copies: Copies
    basis_s: np.ndarray              # per clip: the duration compared (video or container)
    tolerance_s: float
    time_tolerance_s: float = 2.0    # recorded_at vs the manifest's time (plus its unit)
    manifest: Optional[pa.Table] = None
    matches: Optional[Matches] = None


def rows(kind: str, count: int, **columns) -> pa.Table:
    """A discrepancy table; each column an array, a list, or one value for every row."""
    arrays = []
    for field in DISCREPANCY_SCHEMA:
        value = columns.get(field.name, kind if field.name == "kind" else None)
        if isinstance(value, (pa.Array, pa.ChunkedArray)):
            arrays.append(pc.cast(value, field.type))
        elif isinstance(value, (list, np.ndarray)):
            arrays.append(pa.array(value, field.type, from_pandas=True))
        else:
            arrays.append(pa.array([value] * count, field.type))
    return pa.Table.from_arrays(arrays, schema=DISCREPANCY_SCHEMA)


def _take(column, positions: np.ndarray):
    return column.take(pa.array(positions, pa.int64()))


def _manifest_rows(positions: np.ndarray) -> np.ndarray:
    """Manifest row numbers as the export shows them (row 1 is the header), nan where none."""
    return np.where(positions >= 0, positions + 2, np.nan)


def _from_manifest(ctx: Context, name: str, listed: np.ndarray) -> pa.Array:
    """The manifest's `name` for each listed row (-1: not listed, null)."""
    count = len(listed)
    if ctx.manifest is None or not count:
        return pa.nulls(count, pa.string())
    column = ctx.manifest.column(name).combine_chunks()
    return pc.if_else(pa.array(listed >= 0), column.take(pa.array(np.maximum(listed, 0), pa.int64())),
                      pa.scalar(None, column.type))


def _listed_in(ctx: Context, first: int, count: int) -> np.ndarray:
    """Per index row from `first`: its manifest row, or -1."""
    if ctx.matches is None:
        return np.full(count, -1, dtype=np.int64)
    return np.asarray(ctx.matches.i_manifest[first:first + count], dtype=np.int64)


def _identifiers(ctx: Context, listed: np.ndarray, devices) -> dict:
    """The export's ids beside clipindex's: the evidence id, the row, the device (the index's, else the
    export's) and the officer, so whoever acts on a row can look it up in the evidence system."""
    manifest_device = _from_manifest(ctx, "device_id", listed)
    return {"evidence_id": _from_manifest(ctx, "clip_id", listed), "manifest_row": _manifest_rows(listed),
            "officer_id": _from_manifest(ctx, "officer_id", listed),
            "device_id": pc.coalesce(pc.cast(devices, pa.string()), manifest_device)}


def unreadable(ctx: Context) -> pa.Table:
    errors, first = ctx.index.errors, ctx.index.clips.num_rows
    listed = _listed_in(ctx, first, errors.num_rows)
    detail = pc.binary_join_element_wise(errors.column("error_kind"), errors.column("message"), ": ")
    return rows("unreadable", errors.num_rows, uri=errors.column("uri"), clip_id=errors.column("clip_id"),
                detail=detail, **_identifiers(ctx, listed, errors.column("device_id").combine_chunks()))


def manifest_rows(kind: str, ctx: Context, positions: np.ndarray, detail) -> pa.Table:
    """Rows only the manifest has (missing, ambiguous): no clipindex id."""
    m = ctx.manifest
    positions = np.asarray(positions, dtype=np.int64)
    return rows(kind, len(positions), uri=_take(m.column("uri"), positions),
                expected_duration_s=_take(m.column("expected_duration_s"), positions), detail=detail,
                **_identifiers(ctx, positions, pa.nulls(len(positions), pa.string())))


def clip_rows(kind: str, ctx: Context, positions: np.ndarray, detail, expected=None, listed=None) -> pa.Table:
    clips = ctx.index.clips
    positions = np.asarray(positions, dtype=np.int64)
    listed = np.full(len(positions), -1, dtype=np.int64) if listed is None else np.asarray(listed, dtype=np.int64)
    return rows(kind, len(positions), uri=_take(clips.column("uri"), positions),
                clip_id=_take(clips.column("clip_id"), positions), expected_duration_s=expected,
                indexed_duration_s=ctx.basis_s[positions], detail=detail,
                **_identifiers(ctx, listed, _take(clips.column("device_id"), positions).combine_chunks()))


def ambiguous(ctx: Context) -> pa.Table:
    uris = ctx.index.column("uri").to_pylist() if ctx.matches.candidates else []
    positions = np.array(sorted(ctx.matches.candidates), dtype=np.int64)
    details = []
    for row in positions.tolist():
        rule, count, shown = ctx.matches.candidates[row]
        names = ", ".join(uris[i] for i in shown) + (f" and {count - len(shown)} more" if count > len(shown) else "")
        details.append(f"matches {names} by {rule}, and so does another manifest row; none picked" if count == 1
                       else f"could be any of {count} index rows by {rule}: {names}; none picked")
    return manifest_rows("ambiguous", ctx, positions, details)


def copies(ctx: Context) -> pa.Table:
    clips, found = ctx.index.clips, ctx.copies
    positions = np.flatnonzero(found.kind != 0)
    uris, ids = clips.column("uri").to_pylist(), clips.column("clip_id").to_pylist()
    excerpt_of, offsets = clips.column("excerpt_of").to_pylist(), clips.column("excerpt_offset_s").to_pylist()
    listed = _listed_in(ctx, 0, clips.num_rows)
    parts = []
    for kind, name in ((DUPLICATE, "duplicate"), (EXCERPT, "excerpt")):
        chosen = positions[found.kind[positions] == kind]
        details = []
        for row in chosen.tolist():
            of = int(found.of[row])
            target = f"{uris[of]} (clip_id {ids[of]})" if of >= 0 else f"clip_id {excerpt_of[row]} (not indexed)"
            if kind == DUPLICATE:
                how = "same bytes (sha256)" if found.same_bytes[row] else "same footage re-encoded (perceptual hashes)"
                text = f"{how} as {target}"
            else:
                at = f" from {offsets[row]:.3f} s" if offsets[row] is not None else ""
                text = f"excerpt of {target}{at}"
            if listed[row] >= 0:
                text += f"; the manifest lists it too (row {listed[row] + 2}): counted once"
            details.append(text)
        parts.append(clip_rows(name, ctx, chosen, details, listed=listed[chosen]))
    return pa.concat_tables(parts)


def collect(parts: list[pa.Table]) -> pa.Table:
    """All kinds, in ORDER, then by uri (or an id)."""
    table = pa.concat_tables([p for p in parts if p.num_rows] or [DISCREPANCY_SCHEMA.empty_table()])
    rank = pc.index_in(table.column("kind"), value_set=pa.array(ORDER))
    keyed = table.append_column("_rank", rank).append_column(
        "_key", pc.coalesce(table.column("uri"), table.column("clip_id"), table.column("evidence_id"), pa.scalar("")))
    return keyed.sort_by([("_rank", "ascending"), ("_key", "ascending")]).drop_columns(["_rank", "_key"])
