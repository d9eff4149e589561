"""Totals, the checks of totals against expectations, and the count identity.

Hours tolerance (`--hours-tolerance`): hours (`0.01`) or a share of the
expected hours (`0.05%`, the default). Why relative, and why 0.05 %: real
cameras' container durations run a few tens of milliseconds past the video
timeline (audio priming, the last frame's duration), about 0.01 % of a
seven-minute clip, so an absolute tolerance that holds for one night's clips
fails for a year's; 0.05 % leaves five times that margin and still notices
one missing average clip in a night of a few hundred. At archive scale a
totals check cannot see single clips (0.05 % of 4,600 h is 2.3 h): that is
what the per-clip discrepancies and the count checks are for.

A manifest's hours are checked with that tolerance plus the rounding its
durations carry: each value given to a unit (whole seconds: 1 s) may be up
to one unit off, so the sum may be up to the sum of the units off.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_HOURS_TOLERANCE = "0.05%"


def parse_hours_tolerance(text: str) -> tuple[float, bool]:
    """(value, relative): `0.05%` -> (0.0005, True); `0.01` -> (0.01, False). ValueError when bad."""
    relative = text.strip().endswith("%")
    value = float(text.strip().rstrip("%"))
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"must be a non-negative number of hours or a percentage, not {text!r}")
    return (value / 100, True) if relative else (value, False)


def hours_tolerance(spec: str, expected_hours: float) -> tuple[float, str]:
    value, relative = parse_hours_tolerance(spec)
    if relative:
        hours = value * expected_hours
        return hours, f"{spec.strip()} of {expected_hours:.3f} h = {hours:.4g} h"
    return value, f"{value:g} h"


def _check(name: str, indexed, expected, ok: bool, tolerance=None, detail=None) -> dict:
    return {"name": name, "indexed": indexed, "expected": expected, "tolerance": tolerance, "ok": bool(ok),
            "tolerance_detail": detail}


def totals(clips: pa.Table, originals: np.ndarray, kinds: np.ndarray, basis_s: np.ndarray, errors: int,
           basis: str) -> dict:
    def sum_of(name: str, mask: np.ndarray) -> int:
        values = pc.cast(clips.column(name), pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return int(values[mask].sum())
    duration_s = float(basis_s[originals].sum())
    truncated = clips.column("truncated").fill_null(False).to_numpy(zero_copy_only=False)
    return {
        "videos": int(originals.sum()), "hours": duration_s / 3600, "duration_s": duration_s, "basis": basis,
        "bytes": sum_of("size_bytes", originals), "frames": sum_of("frame_count", originals),
        "duplicates": int((kinds == 1).sum()), "duplicate_hours": float(basis_s[kinds == 1].sum()) / 3600,
        "excerpts": int((kinds == 2).sum()), "excerpt_hours": float(basis_s[kinds == 2].sum()) / 3600,
        "errors": errors, "truncated": int((truncated & originals).sum()),
    }


def checks(totals_: dict, videos: int | None, hours: float | None, spec: str,
           manifest: pa.Table | None, counted: np.ndarray | None) -> list[dict]:
    """counted: manifest rows that count (not a second listing of a copy)."""
    found = []
    if videos is not None:
        found.append(_check("videos", totals_["videos"], videos, totals_["videos"] == videos))
    if hours is not None:
        tolerance, detail = hours_tolerance(spec, hours)
        found.append(_check("hours", totals_["hours"], hours, abs(totals_["hours"] - hours) <= tolerance,
                            tolerance, detail))
    if manifest is not None:
        expected_videos = int(counted.sum())
        found.append(_check("manifest videos", totals_["videos"], expected_videos,
                            totals_["videos"] == expected_videos))
        seconds = manifest.column("expected_duration_s").to_numpy(zero_copy_only=False)[counted]
        units = manifest.column("duration_unit_s").to_numpy(zero_copy_only=False)[counted]
        if (~np.isnan(seconds)).any():
            expected_hours = float(np.nansum(seconds)) / 3600
            tolerance, detail = hours_tolerance(spec, expected_hours)
            rounding_h = float(np.nansum(units)) / 3600
            if rounding_h:
                detail += f" + {rounding_h:.4g} h the manifest's rounding"
            found.append(_check("manifest hours", totals_["hours"], expected_hours,
                                abs(totals_["hours"] - expected_hours) <= tolerance + rounding_h,
                                tolerance + rounding_h, detail))
    return found


def identity(index_rows: int, kinds: np.ndarray, errors: int, expected: dict | None, indexed: dict | None) -> dict:
    """Every row ends in exactly one outcome, so the counts add up; stated and checked."""
    inputs = {"total": index_rows, "videos": int((kinds == 0).sum()), "unreadable": errors,
              "duplicates": int((kinds == 1).sum()), "excerpts": int((kinds == 2).sum())}
    lines = [_line("index rows", inputs)]
    sides = [inputs]
    if expected is not None:
        lines += [_line("expected", expected), _line("index rows", indexed)]
        sides += [expected, indexed]
    holds = all(side["total"] == sum(v for k, v in side.items() if k != "total") for side in sides)
    return {"inputs": inputs, "expected": expected, "indexed": indexed, "holds": holds, "text": lines}


def _line(name: str, side: dict) -> str:
    terms = " + ".join(f"{key.replace('_', ' ')} {value}" for key, value in side.items() if key != "total")
    equal = "=" if side["total"] == sum(v for k, v in side.items() if k != "total") else "!="
    return f"{name} {side['total']} {equal} {terms}"
