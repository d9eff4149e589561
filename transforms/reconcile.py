"""Reconciliation: the index against what should be there.

One discrepancy row per problem input, of the most specific kind:
unreadable > duplicate > unexpected | missing > truncated > hash_mismatch >
duration_mismatch. Duplicates (same sha256 as another clip, or `duplicate_of`
set by the index: the same footage re-encoded) are counted separately and
never add to the indexed totals.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from typing import Optional

import pyarrow as pa

from schemas import CLIPS_SCHEMA, DISCREPANCY_SCHEMA, ERRORS_SCHEMA
from transforms import storage
from transforms.tables_io import read_table

CLIP_COLUMNS = ["clip_id", "uri", "size_bytes", "sha256", "duration_s", "truncated", "recorded_at",
                "frame_count", "duplicate_of"]


@dataclasses.dataclass(frozen=True)
class Expectations:
    videos: Optional[int] = None
    hours: Optional[float] = None
    manifest: Optional[pa.Table] = None
    tolerance_s: float = 0.5          # per-clip duration tolerance
    hours_tolerance: float = 0.001    # total hours tolerance


@dataclasses.dataclass
class Discrepancy:
    kind: str
    uri: Optional[str]
    clip_id: Optional[str]
    expected_duration_s: Optional[float]
    indexed_duration_s: Optional[float]
    detail: str


@dataclasses.dataclass
class Reconciliation:
    run: dict
    totals: dict
    checks: list[dict]
    discrepancies: list[Discrepancy]
    breakdowns: dict            # by_day / by_device / by_officer -> list of rows
    durations_s: list[float]    # per clip, for the histogram

    @property
    def reconciled(self) -> bool:
        return not self.discrepancies and all(check["ok"] for check in self.checks)

    def discrepancy_table(self) -> pa.Table:
        rows = [dataclasses.asdict(d) for d in self.discrepancies]
        return pa.Table.from_pylist(rows, schema=DISCREPANCY_SCHEMA)

    def to_json(self) -> dict:
        kinds = collections.Counter(d.kind for d in self.discrepancies)
        return {"reconciled": self.reconciled, "run": self.run, "totals": self.totals,
                "checks": self.checks, "discrepancy_counts": dict(sorted(kinds.items())),
                "discrepancies": [dataclasses.asdict(d) for d in self.discrepancies],
                "breakdowns": self.breakdowns}


def _stem(uri: str) -> str:
    return os.path.splitext(uri.rstrip("/").rsplit("/", 1)[-1])[0]


def _duplicates(clips: list[dict], listed: set[str]) -> dict[str, dict]:
    """uri of each duplicate -> the clip it duplicates (listed one preferred, else first uri)."""
    by_hash = collections.defaultdict(list)
    for clip in clips:
        if clip["sha256"]:
            by_hash[clip["sha256"]].append(clip)
    duplicate_of = {}
    for group in by_hash.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda c: (c["uri"] not in listed, c["uri"]))
        for copy in group[1:]:
            duplicate_of[copy["uri"]] = group[0]
    # Same footage at another size or bit rate, found by the index (transforms/duplicates.py).
    by_id = {clip["clip_id"]: clip for clip in clips}
    for clip in clips:
        original = by_id.get(clip["duplicate_of"] or "")
        if original is None or clip["uri"] in duplicate_of:
            continue
        if clip["uri"] in listed and original["uri"] not in listed:
            clip, original = original, clip  # the manifest expects this copy: the other is extra
        duplicate_of.setdefault(clip["uri"], original)
    return duplicate_of


def _duplicate_detail(clip: dict, original: dict) -> str:
    same = ("same bytes (sha256)" if clip["sha256"] and clip["sha256"] == original["sha256"]
            else "same footage re-encoded (perceptual hashes)")
    return f"{same} as {original['uri']} (clip_id {original['clip_id']})"


def _manifest_index(manifest: pa.Table, clips: list[dict], errors: list[dict]):
    """Map manifest rows to index rows by uri, else by clip_id (ours or the file stem)."""
    rows = manifest.to_pylist()
    by_key: dict[str, dict] = {}
    for row in rows:
        by_key[row["uri"] or row["clip_id"]] = row

    def key_of(item: dict) -> Optional[str]:
        for key in (item["uri"], item.get("clip_id"), _stem(item["uri"])):
            if key in by_key:
                return key
        return None

    return rows, by_key, key_of


def _check(name: str, indexed, expected, ok: bool, tolerance=None) -> dict:
    return {"name": name, "indexed": indexed, "expected": expected, "tolerance": tolerance, "ok": ok}


def _breakdown(rows: list[tuple[Optional[str], str, float]]) -> list[dict]:
    """rows of (group, side, seconds) -> [{group, expected_clips, expected_hours, indexed_...}]."""
    table: dict = collections.defaultdict(lambda: {"expected_clips": 0, "expected_hours": 0.0,
                                                    "indexed_clips": 0, "indexed_hours": 0.0})
    for group, side, seconds in rows:
        entry = table[group or "unknown"]
        entry[f"{side}_clips"] += 1
        entry[f"{side}_hours"] += (seconds or 0.0) / 3600
    return [{"group": g, **v} for g, v in sorted(table.items())]


def reconcile(snapshot: str, expectations: Expectations) -> Reconciliation:
    run = json.loads(storage.read_text(storage.join(snapshot, "run.json")))
    clips = read_table(storage.join(snapshot, "clips"), CLIPS_SCHEMA, CLIP_COLUMNS).to_pylist()
    errors = read_table(storage.join(snapshot, "errors"), ERRORS_SCHEMA,
                        ["uri", "clip_id", "error_kind", "message"]).to_pylist()
    manifest = expectations.manifest
    listed_uris = set(manifest.column("uri").to_pylist()) if manifest is not None else set()
    duplicate_of = _duplicates(clips, listed_uris)
    found: list[Discrepancy] = []

    for err in errors:
        found.append(Discrepancy("unreadable", err["uri"], err["clip_id"], None, None,
                                 f"{err['error_kind']}: {err['message']}"))
    originals = [c for c in clips if c["uri"] not in duplicate_of]
    for clip in clips:
        if clip["uri"] in duplicate_of:
            original = duplicate_of[clip["uri"]]
            found.append(Discrepancy("duplicate", clip["uri"], clip["clip_id"], None, clip["duration_s"],
                                     _duplicate_detail(clip, original)))

    by_day, by_device, by_officer = [], [], []
    if manifest is not None:
        rows, by_key, key_of = _manifest_index(manifest, clips, errors)
        seen_keys = set()
        for err in errors:
            if (key := key_of(err)) is not None:
                seen_keys.add(key)
        for clip in originals:
            key = key_of(clip)
            if key is None:
                found.append(Discrepancy("unexpected", clip["uri"], clip["clip_id"], None,
                                         clip["duration_s"], "indexed, but not in the manifest"))
                by_day.append((_day(clip["recorded_at"]), "indexed", clip["duration_s"]))
                continue
            seen_keys.add(key)
            expected = by_key[key]
            by_day.append((_day(expected["recorded_at"] or clip["recorded_at"]), "indexed", clip["duration_s"]))
            by_device.append((expected["device_id"], "indexed", clip["duration_s"]))
            by_officer.append((expected["officer_id"], "indexed", clip["duration_s"]))
            problem = _clip_problem(clip, expected, expectations.tolerance_s)
            if problem:
                found.append(problem)
        for row in rows:
            key = row["uri"] or row["clip_id"]
            by_day.append((_day(row["recorded_at"]), "expected", row["expected_duration_s"]))
            by_device.append((row["device_id"], "expected", row["expected_duration_s"]))
            by_officer.append((row["officer_id"], "expected", row["expected_duration_s"]))
            if key not in seen_keys:
                found.append(Discrepancy("missing", row["uri"], row["clip_id"], row["expected_duration_s"],
                                         None, "in the manifest, but not found"))
    else:
        for clip in originals:
            if clip["truncated"]:
                found.append(Discrepancy("truncated", clip["uri"], clip["clip_id"], None, clip["duration_s"],
                                         "file is cut short; indexed what is readable"))
            by_day.append((_day(clip["recorded_at"]), "indexed", clip["duration_s"]))

    indexed_s = sum(c["duration_s"] for c in originals)
    totals = {
        "videos": len(originals),
        "hours": indexed_s / 3600,
        "duration_s": indexed_s,
        "bytes": sum(c["size_bytes"] for c in originals),
        "frames": sum(c["frame_count"] for c in originals),
        "duplicates": len(duplicate_of),
        "duplicate_hours": sum(c["duration_s"] for c in clips if c["uri"] in duplicate_of) / 3600,
        "errors": len(errors),
        "truncated": sum(1 for c in originals if c["truncated"]),
    }
    checks = _checks(totals, expectations)
    order = {k: i for i, k in enumerate(("unreadable", "missing", "unexpected", "duplicate", "truncated",
                                         "hash_mismatch", "duration_mismatch"))}
    found.sort(key=lambda d: (order[d.kind], d.uri or d.clip_id or ""))
    return Reconciliation(run=run, totals=totals, checks=checks, discrepancies=found,
                          breakdowns={"by_day": _breakdown(by_day), "by_device": _breakdown(by_device),
                                      "by_officer": _breakdown(by_officer)},
                          durations_s=[c["duration_s"] for c in originals])


def _day(value) -> Optional[str]:
    return value.date().isoformat() if value is not None else None


def _clip_problem(clip: dict, expected: dict, tolerance_s: float) -> Optional[Discrepancy]:
    want = expected["expected_duration_s"]
    if clip["truncated"]:
        return Discrepancy("truncated", clip["uri"], clip["clip_id"], want, clip["duration_s"],
                           "file is cut short; indexed what is readable")
    if expected["sha256"] and clip["sha256"] and expected["sha256"].lower() != clip["sha256"]:
        return Discrepancy("hash_mismatch", clip["uri"], clip["clip_id"], want, clip["duration_s"],
                           f"sha256 {clip['sha256'][:16]}... but the manifest says {expected['sha256'][:16]}...")
    if want is not None and abs(clip["duration_s"] - want) > tolerance_s:
        return Discrepancy("duration_mismatch", clip["uri"], clip["clip_id"], want, clip["duration_s"],
                           f"off by {clip['duration_s'] - want:+.3f} s (tolerance {tolerance_s} s)")
    return None


def _checks(totals: dict, expectations: Expectations) -> list[dict]:
    checks = []
    if expectations.videos is not None:
        checks.append(_check("videos", totals["videos"], expectations.videos,
                             totals["videos"] == expectations.videos))
    if expectations.hours is not None:
        ok = abs(totals["hours"] - expectations.hours) <= expectations.hours_tolerance
        checks.append(_check("hours", totals["hours"], expectations.hours, ok, expectations.hours_tolerance))
    if expectations.manifest is not None:
        durations = [d for d in expectations.manifest.column("expected_duration_s").to_pylist() if d is not None]
        checks.append(_check("manifest videos", totals["videos"], expectations.manifest.num_rows,
                             totals["videos"] == expectations.manifest.num_rows))
        if durations:
            hours = sum(durations) / 3600
            checks.append(_check("manifest hours", totals["hours"], hours,
                                 abs(totals["hours"] - hours) <= expectations.hours_tolerance,
                                 expectations.hours_tolerance))
    return checks
