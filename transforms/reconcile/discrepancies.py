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
         "hash_mismatch", "size_mismatch", "duration_mismatch")


@dataclasses.dataclass
class Context:
    index: IndexSide
    copies: Copies
    basis_s: np.ndarray              # per clip: the duration compared (video or container)
    tolerance_s: float
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


def unreadable(ctx: Context) -> pa.Table:
    errors, first = ctx.index.errors, ctx.index.clips.num_rows
    listed = ctx.matches.i_manifest[first:] if ctx.matches else np.full(errors.num_rows, -1)
    detail = pc.binary_join_element_wise(errors.column("error_kind"), errors.column("message"), ": ")
    return rows("unreadable", errors.num_rows, uri=errors.column("uri"), clip_id=errors.column("clip_id"),
                detail=detail, manifest_row=_manifest_rows(listed), device_id=errors.column("device_id"))


def manifest_rows(kind: str, ctx: Context, positions: np.ndarray, detail) -> pa.Table:
    m = ctx.manifest
    return rows(kind, len(positions), uri=_take(m.column("uri"), positions),
                clip_id=_take(m.column("clip_id"), positions),
                expected_duration_s=_take(m.column("expected_duration_s"), positions),
                detail=detail, manifest_row=positions + 2, device_id=_take(m.column("device_id"), positions))


def clip_rows(kind: str, ctx: Context, positions: np.ndarray, detail, expected=None, listed=None) -> pa.Table:
    clips = ctx.index.clips
    return rows(kind, len(positions), uri=_take(clips.column("uri"), positions),
                clip_id=_take(clips.column("clip_id"), positions), expected_duration_s=expected,
                indexed_duration_s=ctx.basis_s[positions], detail=detail,
                manifest_row=None if listed is None else _manifest_rows(listed),
                device_id=_take(clips.column("device_id"), positions))


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
    listed = ctx.matches.i_manifest[: clips.num_rows] if ctx.matches else np.full(clips.num_rows, -1)
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
    """All kinds, in ORDER, then by uri (or clip_id)."""
    table = pa.concat_tables([p for p in parts if p.num_rows] or [DISCREPANCY_SCHEMA.empty_table()])
    rank = pc.index_in(table.column("kind"), value_set=pa.array(ORDER))
    keyed = table.append_column("_rank", rank).append_column(
        "_key", pc.coalesce(table.column("uri"), table.column("clip_id"), pa.scalar("")))
    return keyed.sort_by([("_rank", "ascending"), ("_key", "ascending")]).drop_columns(["_rank", "_key"])
