"""Per-clip checks of matched clips against their manifest rows, vectorised.

One discrepancy per clip, the most specific: truncated > hash_mismatch >
size_mismatch > duration_mismatch > time_mismatch. A value the export rounded is compared
with the tolerance widened by its unit (the most rounding, flooring or
ceiling can move it):

- duration: |clip - manifest| > --tolerance-s + unit (`00:04:07`: 1 s);
- size: |clip - manifest| >= the unit, at least 1 byte (`47.8 MB`: 100,000 bytes;
  a byte count must be exact);
- recording time: |recorded_at - manifest| > --time-tolerance-s + unit (`02:15 PM`:
  60 s), when both are known: a camera clock or an export months off, or a manifest
  read in the wrong zone (reconcile warns when naive times are read without
  --manifest-tz).

These checks are separate from the totals checks (transforms/reconcile/totals.py).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.reconcile.discrepancies import Context, clip_rows

_KINDS = ("truncated", "hash_mismatch", "size_mismatch", "duration_mismatch", "time_mismatch")


def _np(column, fill=np.nan) -> np.ndarray:
    return pc.cast(column, pa.float64()).fill_null(fill).to_numpy(zero_copy_only=False)


def unlisted_truncated(ctx: Context) -> pa.Table:
    """Without a manifest: every original clip that is cut short."""
    truncated = ctx.index.clips.column("truncated").fill_null(False).to_numpy(zero_copy_only=False)
    positions = np.flatnonzero(truncated & ctx.copies.originals)
    return clip_rows("truncated", ctx, positions, "file is cut short; indexed what is readable")


def clip_problems(ctx: Context, basis: str) -> list[pa.Table]:
    clips, manifest = ctx.index.clips, ctx.manifest
    listed = ctx.matches.i_manifest[: clips.num_rows]
    positions = np.flatnonzero((listed >= 0) & ctx.copies.originals)
    clip, row = clips.take(positions), manifest.take(listed[positions])
    truncated = clip.column("truncated").fill_null(False).to_numpy(zero_copy_only=False)
    want_sha, have_sha = pc.utf8_lower(row.column("sha256")), clip.column("sha256")
    hash_bad = pc.fill_null(pc.not_equal(want_sha, have_sha), False).to_numpy(zero_copy_only=False)
    size_off = _np(clip.column("size_bytes")) - _np(row.column("size_bytes"))
    size_unit = np.maximum(_np(row.column("size_unit_bytes"), 0.0), 1.0)
    size_bad = np.abs(np.nan_to_num(size_off, nan=0.0)) >= size_unit
    want_s, have_s = _np(row.column("expected_duration_s")), ctx.basis_s[positions]
    duration_unit = _np(row.column("duration_unit_s"), 0.0)
    duration_bad = np.abs(np.nan_to_num(have_s - want_s, nan=0.0)) > ctx.tolerance_s + duration_unit
    time_off_s = (_np(pc.cast(clip.column("recorded_at"), pa.int64()))
                  - _np(pc.cast(row.column("recorded_at"), pa.int64()))) / 1e6
    time_unit_s = _np(row.column("recorded_at_unit_s"), 0.0)
    time_bad = np.abs(np.nan_to_num(time_off_s, nan=0.0)) > ctx.time_tolerance_s + time_unit_s
    kind = np.select([truncated, hash_bad, size_bad, duration_bad, time_bad], [0, 1, 2, 3, 4], default=-1)
    out = []
    for number, name in enumerate(_KINDS):
        chosen = np.flatnonzero(kind == number)
        if name == "time_mismatch":
            details = [_time_detail(i, clip, row, time_off_s, time_unit_s, ctx) for i in chosen.tolist()]
        else:
            details = [_detail(name, i, clip, row, size_off, size_unit, have_s - want_s, duration_unit, ctx, basis)
                       for i in chosen.tolist()]
        out.append(clip_rows(name, ctx, positions[chosen], details, expected=want_s[chosen],
                             listed=listed[positions[chosen]]))
    return out


def _detail(name: str, i: int, clip: pa.Table, row: pa.Table, size_off, size_unit, off_s, unit_s,
            ctx: Context, basis: str) -> str:
    if name == "truncated":
        return "file is cut short; indexed what is readable"
    if name == "hash_mismatch":
        have, want = clip.column("sha256")[i].as_py(), row.column("sha256")[i].as_py()
        return f"sha256 {have[:16]}... but the manifest says {want[:16]}..."
    if name == "size_mismatch":
        return (f"{int(clip.column('size_bytes')[i].as_py())} bytes, off by {size_off[i]:+.0f} from the "
                f"manifest's {int(row.column('size_bytes')[i].as_py())} (given to {size_unit[i]:g} bytes)")
    rounding = f" + {unit_s[i]:g} s the manifest's value was given to" if unit_s[i] else ""
    return f"{basis} duration off by {off_s[i]:+.3f} s (tolerance {ctx.tolerance_s:g} s{rounding})"


def _span(seconds: float) -> str:
    """An offset as a person reads it: 45 s, 3 h 12 min, 241 days."""
    size = abs(seconds)
    if size < 120:
        return f"{size:.0f} s"
    if size < 2 * 86400:
        return f"{int(size // 3600)} h {int(size % 3600 // 60)} min" if size >= 3600 else f"{size / 60:.0f} min"
    return f"{size / 86400:.0f} days"


def _time_detail(i: int, clip: pa.Table, row: pa.Table, off_s, unit_s, ctx: Context) -> str:
    have, want = clip.column("recorded_at")[i].as_py(), row.column("recorded_at")[i].as_py()
    side = "after" if off_s[i] > 0 else "before"
    return (f"recorded {have:%Y-%m-%d %H:%M:%S} UTC, {_span(off_s[i])} {side} the manifest's "
            f"{want:%Y-%m-%d %H:%M:%S} UTC (tolerance {ctx.time_tolerance_s:g} s + {unit_s[i]:g} s the "
            f"manifest's time was given to)")
