"""Reconciliation: the index against what should be there.

Manifest rows and index rows (readable clips and unreadable files) are
matched by transforms/reconcile/match_rows.py; copies (duplicates, excerpts) are found by
transforms/reconcile/copies.py. Every row ends in exactly one outcome:

- manifest row: matched | listed copy (it lists a clip that copies another:
  counted once, reported as that copy) | missing | ambiguous;
- index row: matched | duplicate | excerpt | unexpected | ambiguous.

So `expected = matched + listed copies + missing + ambiguous` and
`index rows = matched + duplicates + excerpts + unexpected + ambiguous`
(`matched` counts pairs, the same number on both sides); both identities are
stated in the result and checked. One discrepancy row per problem input, of
the most specific kind (transforms/reconcile/discrepancies.py). Copies never add to
the totals. Everything here works on Arrow columns and numpy arrays.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from typing import Optional, Union

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.reconcile import clip_checks

from transforms.reconcile import discrepancies
from transforms.reconcile.copies import ORIGINAL, find_copies
from transforms.reconcile.match_rows import make_side, match_rows
from transforms.reconcile.breakdowns import breakdowns
from transforms.reconcile.index_side import IndexSide, read_index_side
from transforms.reconcile.report.data import copy_groups, qa_coverage, qa_top
from transforms.reconcile.totals import DEFAULT_HOURS_TOLERANCE, checks, identity, totals
from transforms.storage.snapshots import Snapshot

BASES = ("video", "container")


@dataclasses.dataclass(frozen=True)
class Expectations:
    videos: Optional[int] = None
    hours: Optional[float] = None
    manifest: Optional[pa.Table] = None
    tolerance_s: float = 0.5                 # per-clip duration tolerance (plus the manifest's rounding)
    hours_tolerance: Union[str, float] = DEFAULT_HOURS_TOLERANCE  # hours, or "P%" of the expected hours
    time_tolerance_s: float = 2.0            # recorded_at window for matching (plus the manifest's unit)
    basis: str = "video"                     # video (duration_s) | container (container_duration_s)
    tz: Optional[dt.tzinfo] = None           # days of the per-day breakdown (None: UTC)
    device_from_path: Optional[str] = None   # regex over the index's uris (named group device_id)
    as_of: Optional[str] = None              # reconcile --as-of WHEN: the index as it was (said in the report)


@dataclasses.dataclass
class Reconciliation:
    run: dict
    totals: dict
    checks: list[dict]
    discrepancies: pa.Table     # DISCREPANCY_SCHEMA, sorted by kind then uri
    breakdowns: dict            # by_day / by_device / by_officer -> list of rows
    durations_s: np.ndarray     # per original clip (basis), for the histogram
    identity: dict
    copy_groups: list[dict] = dataclasses.field(default_factory=list)
    qa_top: list[dict] = dataclasses.field(default_factory=list)
    qa: dict = dataclasses.field(default_factory=dict)   # what the picture checks measured (qa_coverage)
    snapshot: str = ""
    settings: dict = dataclasses.field(default_factory=dict)

    @property
    def reconciled(self) -> bool:
        return (self.discrepancies.num_rows == 0 and all(check["ok"] for check in self.checks)
                and self.identity["holds"])

    def discrepancy_table(self) -> pa.Table:
        return self.discrepancies

    def discrepancy_counts(self) -> dict[str, int]:
        return dict(sorted(collections.Counter(self.discrepancies.column("kind").to_pylist()).items()))

    def to_json(self) -> dict:
        return {"reconciled": self.reconciled, "run": self.run, "settings": self.settings,
                "totals": self.totals, "checks": self.checks, "identity": self.identity,
                "discrepancy_counts": self.discrepancy_counts(),
                "discrepancies": self.discrepancies.to_pylist(), "breakdowns": self.breakdowns,
                "duplicate_groups": self.copy_groups, "qa_top": self.qa_top, "qa": self.qa}


def basis_seconds(clips: pa.Table, basis: str) -> np.ndarray:
    video = clips.column("duration_s")
    chosen = pc.coalesce(clips.column("container_duration_s"), video) if basis == "container" else video
    return pc.cast(chosen, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)


def _match(index: IndexSide, manifest: pa.Table, time_tolerance_s: float):
    window_s = time_tolerance_s + np.nan_to_num(
        manifest.column("recorded_at_unit_s").to_numpy(zero_copy_only=False), nan=0.0)
    m = manifest
    uri = m.column("uri").combine_chunks()
    # A uri with a folder says where the file is: it matches by uri. A bare file name (or a
    # clip_id when there is no uri) is a name, for the rules that match by file name.
    located = pc.fill_null(pc.match_substring(uri, "/"), False)
    names = pc.if_else(located, pa.scalar(None, pa.string()), pc.coalesce(uri, m.column("clip_id").combine_chunks()))
    m_side = make_side(uri, m.column("clip_id").combine_chunks(), m.column("device_id").combine_chunks(),
                       m.column("recorded_at").combine_chunks(), names, window_s)
    i_side = make_side(index.column("uri"), index.column("clip_id"), index.column("device_id"),
                       index.column("recorded_at"), index.column("uri"))
    return match_rows(m_side, i_side)


def _outcomes(index: IndexSide, kinds: np.ndarray, matches) -> tuple[dict, dict, np.ndarray]:
    """(expected side counts, index side counts, manifest rows that count)."""
    n_clips = index.clips.num_rows
    m_index, i_manifest = matches.m_index, matches.i_manifest
    to_clip = (m_index >= 0) & (m_index < n_clips)
    listed_copy = to_clip & (kinds[np.where(to_clip, m_index, 0)] != ORIGINAL) if n_clips else to_clip & False
    matched = int(((m_index >= 0) & ~listed_copy).sum())
    expected = {"total": len(m_index), "matched": matched, "listed_copies": int(listed_copy.sum()),
                "missing": int(((m_index < 0) & ~matches.m_ambiguous).sum()),
                "ambiguous": int(matches.m_ambiguous.sum())}
    all_kinds = np.concatenate([kinds, np.zeros(index.errors.num_rows, dtype=kinds.dtype)])
    copy = all_kinds != ORIGINAL
    indexed = {"total": index.rows, "matched": int(((i_manifest >= 0) & ~copy).sum()),
               "duplicates": int((all_kinds == 1).sum()), "excerpts": int((all_kinds == 2).sum()),
               "unexpected": int(((i_manifest < 0) & ~copy & ~matches.i_ambiguous).sum()),
               "ambiguous": int((matches.i_ambiguous & ~copy).sum())}
    return expected, indexed, ~listed_copy


def reconcile(snapshot: Snapshot, expectations: Expectations) -> Reconciliation:
    index = read_index_side(snapshot, expectations.device_from_path)
    manifest = expectations.manifest
    matches = _match(index, manifest, expectations.time_tolerance_s) if manifest is not None else None
    n_clips = index.clips.num_rows
    listed = matches.i_manifest[:n_clips] if matches else np.full(n_clips, -1)
    found = find_copies(index.clips, listed >= 0)
    basis_s = basis_seconds(index.clips, expectations.basis)
    ctx = discrepancies.Context(index=index, copies=found, basis_s=basis_s, tolerance_s=expectations.tolerance_s,
                                time_tolerance_s=expectations.time_tolerance_s, manifest=manifest, matches=matches)
    parts = [discrepancies.unreadable(ctx), discrepancies.copies(ctx)]
    expected_side = indexed_side = counted = None
    if matches is not None:
        expected_side, indexed_side, counted = _outcomes(index, found.kind, matches)
        missing = np.flatnonzero((matches.m_index < 0) & ~matches.m_ambiguous)
        unexpected = np.flatnonzero((listed < 0) & found.originals & ~matches.i_ambiguous[:n_clips])
        parts += [discrepancies.manifest_rows("missing", ctx, missing, "in the manifest, but not found"),
                  discrepancies.ambiguous(ctx),
                  discrepancies.clip_rows("unexpected", ctx, unexpected, "indexed, but not in the manifest"),
                  *clip_checks.clip_problems(ctx, expectations.basis)]
    else:
        parts.append(clip_checks.unlisted_truncated(ctx))
    spec = str(expectations.hours_tolerance)
    total = totals(index.clips, found.originals, found.kind, basis_s, index.errors.num_rows, expectations.basis)
    return Reconciliation(
        run=index.run, totals=total,
        checks=checks(total, expectations.videos, expectations.hours, spec, manifest, counted),
        discrepancies=discrepancies.collect(parts),
        breakdowns=breakdowns(index.clips, found.originals, basis_s, expectations.tz, manifest, counted, listed),
        durations_s=basis_s[found.originals],
        identity=identity(index.rows, found.kind, index.errors.num_rows, expected_side, indexed_side),
        copy_groups=copy_groups(index.clips, found), qa_top=qa_top(index.clips, found, basis_s),
        qa=qa_coverage(index.clips, found, basis_s, index.run),
        snapshot=index.snapshot, settings=_settings(expectations, spec, index))


def _settings(expectations: Expectations, spec: str, index: IndexSide) -> dict:
    return {"basis": expectations.basis, "tolerance_s": expectations.tolerance_s, "hours_tolerance": spec,
            "time_tolerance_s": expectations.time_tolerance_s, "tz": str(expectations.tz or "UTC"),
            "device_from_path": expectations.device_from_path
            or (index.run.get("options_key") or {}).get("device_from_path"), "as_of": expectations.as_of}
