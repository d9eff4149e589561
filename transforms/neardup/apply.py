"""Applying matches: `duplicate_of`, `excerpt_of`, `excerpt_offset_s` in the clips table.

Launcher side, after the pipeline and the carry-forward, before the commit.
The comparing was done on workers (transforms.beam.match_footage); this reads its
verdicts (a few rows), keeps the relations of carried clips that nothing in
this run touched, adds identical bytes (same sha256), and decides:

- groups of the same footage (union of `same` relations and same bytes):
  the original is chosen by evidence: the most pixels (a downscaled copy is
  never the original), then the earliest `recorded_at`, then the earliest
  indexed (`run_id`, then `mtime_s`), then the highest bit rate; the uri
  decides only a tie of all of these, so a newer copy never becomes the
  original because of its path. Every other member gets `duplicate_of` = the
  original; a carried clip whose relation changes is listed in run.json
  `changes.reclassified`;
- an excerpt (its samples match a stretch of a longer clip) gets `excerpt_of`
  = the longer clip, preferring one that is itself an original, and
  `excerpt_offset_s` = where in that clip it starts. A duplicate is only a
  duplicate (never also an excerpt), so nothing is counted twice.

Clips files are rewritten only where a value changes (a carried file belongs to older
versions too: it is replaced by a new file of this run, never modified in place).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Optional

import pyarrow as pa

from schemas import CLIPS_SCHEMA, MATCHES_SCHEMA
from transforms.storage import fs as storage
from transforms.neardup.align import EXCERPT_A, EXCERPT_B, SAME
from transforms.storage.parquet import read_file, read_table, write_table
from transforms.storage.snapshots import Draft

RESULT_COLUMNS = ("duplicate_of", "excerpt_of", "excerpt_offset_s")
_RANK_COLUMNS = ["clip_id", "uri", "sha256", "width", "height", "size_bytes", "duration_s", "run_id",
                 "recorded_at", "mtime_s", *RESULT_COLUMNS]
RECLASSIFIED_LISTED = 1000


class _Groups:
    """Union-find over clip ids."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        parent = self._parent.setdefault(item, item)
        if parent != item:
            parent = self._parent[item] = self.find(parent)
        return parent

    def union(self, a: str, b: str) -> None:
        self._parent[self.find(a)] = self.find(b)

    def groups(self) -> list[list[str]]:
        members = collections.defaultdict(list)
        for item in self._parent:
            members[self.find(item)].append(item)
        return [m for m in members.values() if len(m) > 1]


@dataclasses.dataclass(frozen=True)
class Excerpt:
    clip: str
    container: str
    offset_s: float     # where in the container the excerpt starts


def _rank(row: dict) -> tuple:
    bit_rate = row["size_bytes"] / row["duration_s"] if row["duration_s"] else 0.0
    recorded = row.get("recorded_at")
    return (-((row["width"] or 0) * (row["height"] or 0)),
            recorded.timestamp() if recorded is not None else float("inf"),
            row.get("run_id") or "", row.get("mtime_s") if row.get("mtime_s") is not None else float("inf"),
            -bit_rate, row["uri"])


def relations_from_matches(matches: pa.Table) -> tuple[list[tuple[str, str, float]], list[Excerpt]]:
    """(same-footage pairs with their offset, excerpts) from the stage's verdicts."""
    same, excerpts = [], []
    for row in matches.to_pylist():
        if row["verdict"] == SAME:
            same.append((row["clip_a"], row["clip_b"], row["offset_s"]))
        elif row["verdict"] == EXCERPT_A:
            excerpts.append(Excerpt(row["clip_a"], row["clip_b"], row["offset_s"]))
        elif row["verdict"] == EXCERPT_B:
            excerpts.append(Excerpt(row["clip_b"], row["clip_a"], -row["offset_s"]))
    return same, excerpts


def resolve(rows: dict[str, dict], same: list[tuple[str, str, float]], excerpts: list[Excerpt],
            kept_from: Optional[set[str]]) -> dict[str, tuple]:
    """clip_id -> (duplicate_of, excerpt_of, excerpt_offset_s) for every clip.

    `kept_from`: carried clips whose stored relations still hold (neither end
    read again in this run); None keeps none.
    """
    groups = _Groups()
    offsets: dict[tuple[str, str], float] = {}
    for a, b, offset in same:
        groups.union(a, b)
        offsets[(a, b)], offsets[(b, a)] = offset, -offset
    by_hash = collections.defaultdict(list)
    for clip_id, row in rows.items():
        if row["sha256"]:
            by_hash[row["sha256"]].append(clip_id)
    for same_bytes in by_hash.values():
        for other in same_bytes[1:]:
            groups.union(same_bytes[0], other)
    excerpts = list(excerpts)
    for clip_id in kept_from or ():
        row = rows[clip_id]
        if row["duplicate_of"] in kept_from:
            groups.union(clip_id, row["duplicate_of"])
        if row["excerpt_of"] in kept_from:
            excerpts.append(Excerpt(clip_id, row["excerpt_of"], row["excerpt_offset_s"] or 0.0))
    original = {}
    for members in groups.groups():
        best = min(members, key=lambda m: _rank(rows[m]))
        original.update({m: best for m in members if m != best})
    result = {clip_id: (original.get(clip_id), None, None) for clip_id in rows}
    for clip_id, found in _excerpts(rows, excerpts, original, offsets).items():
        if clip_id not in original:
            result[clip_id] = (None, *found)
    return result


def _excerpts(rows: dict[str, dict], excerpts: list[Excerpt], original: dict[str, str],
              offsets: dict[tuple[str, str], float]) -> dict[str, tuple[str, float]]:
    """Each excerpt's container: an original if one matched, else the container's original."""
    excerpt_ids = {e.clip for e in excerpts}
    choices = collections.defaultdict(list)
    for e in excerpts:
        container = original.get(e.container, e.container)
        # Container -> its original: same footage, at the offset the two were matched (0 if stored).
        offset = e.offset_s + offsets.get((e.container, container), 0.0)
        direct = container == e.container
        choices[e.clip].append((not direct, container in excerpt_ids, -rows[container]["duration_s"],
                                _rank(rows[container]), container, offset))
    return {clip: min(options)[4:] for clip, options in choices.items()}


def _write_changed(draft: Draft, decided: dict[str, tuple]) -> None:
    for number, path in enumerate(draft.files("clips")):
        table = read_file(path)
        ids = table.column("clip_id").to_pylist()
        wanted = [decided[i] for i in ids]
        current = list(zip(*(table.column(c).to_pylist() for c in RESULT_COLUMNS)))
        if wanted == current:
            continue
        for position, name in enumerate(RESULT_COLUMNS):
            values = pa.array([w[position] for w in wanted], CLIPS_SCHEMA.field(name).type)
            table = table.set_column(table.schema.get_field_index(name), name, values)
        write_table(table.cast(CLIPS_SCHEMA),
                    draft.replacement("clips", path, f"{draft.run_id}-matched-{number:05d}.parquet"))


def reclassified(rows: dict[str, dict], decided: dict[str, tuple], run_id: Optional[str]) -> list[dict]:
    """Clips of earlier runs whose copy relation this run changed (became or stopped being a copy)."""
    out = []
    for clip_id, row in rows.items():
        if run_id is not None and row.get("run_id") == run_id:
            continue
        before = (row["duplicate_of"], row["excerpt_of"])
        after = decided[clip_id][:2]
        if before != after:
            out.append({"clip_id": clip_id, "uri": row["uri"],
                        "duplicate_of": {"from": before[0], "to": after[0]},
                        "excerpt_of": {"from": before[1], "to": after[1]}})
    return sorted(out, key=lambda item: item["uri"])[:RECLASSIFIED_LISTED]


def apply_matches(draft: Draft, matches_path: Optional[str], kept: Optional[frozenset],
                  run_id: Optional[str] = None) -> dict:
    """Decide and write the three columns; returns counts (candidates, pairs, clips marked).

    `kept`: carried clips whose stored relations stand, i.e. not compared again in this run
    (transforms.neardup.plan.kept_relations); None recomputes every relation.
    """
    table = read_table(draft.files("clips"), CLIPS_SCHEMA, _RANK_COLUMNS)
    rows = {row["clip_id"]: row for row in table.to_pylist()}
    matches = MATCHES_SCHEMA.empty_table()
    if matches_path and storage.exists(matches_path):  # kept in the matches table as evidence
        matches = read_file(matches_path).cast(MATCHES_SCHEMA)
    same, excerpts = relations_from_matches(matches)
    same = [s for s in same if s[0] in rows and s[1] in rows]
    excerpts = [e for e in excerpts if e.clip in rows and e.container in rows]
    decided = resolve(rows, same, excerpts, None if kept is None else kept & rows.keys())
    changed = reclassified(rows, decided, run_id)
    _write_changed(draft, decided)
    return {"reclassified": changed,
            "candidate_pairs": matches.num_rows, "same_pairs": len(same), "excerpt_pairs": len(excerpts),
            "duplicates": sum(1 for d in decided.values() if d[0]),
            "excerpts": sum(1 for d in decided.values() if d[1])}
