"""What the report shows beyond the discrepancy list: copy groups and the clips with picture problems."""

from __future__ import annotations

import collections

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.reconcile.copies import DUPLICATE, Copies

MAX_GROUPS = 100
QA_TOP = 12
QA_COLUMNS = ("qa_dark_s", "qa_frozen_s", "qa_blurry_s")


def copy_groups(clips: pa.Table, found: Copies, limit: int = MAX_GROUPS) -> list[dict]:
    """Each original with its duplicates and excerpts (the largest groups first)."""
    rows = np.flatnonzero((found.kind != 0) & (found.of >= 0))
    if not len(rows):
        return []
    uris, ids = clips.column("uri").to_pylist(), clips.column("clip_id").to_pylist()
    members = collections.defaultdict(list)
    for row in rows.tolist():
        members[int(found.of[row])].append(row)
    ordered = sorted(members.items(), key=lambda item: (-len(item[1]), uris[item[0]]))[:limit]
    return [{"original": {"uri": uris[o], "clip_id": ids[o]},
             "copies": [{"uri": uris[c], "clip_id": ids[c],
                         "kind": "duplicate" if found.kind[c] == DUPLICATE else "excerpt",
                         "evidence": ("same bytes" if found.same_bytes[c] else "perceptual hashes")
                         if found.kind[c] == DUPLICATE else "excerpt"}
                        for c in sorted(copies, key=lambda c: uris[c])]}
            for o, copies in ordered]


def qa_top(clips: pa.Table, found: Copies, basis_s: np.ndarray, limit: int = QA_TOP) -> list[dict]:
    """Original clips with the most dark, frozen or blurry seconds (measured with --decode)."""
    seconds = {name: pc.fill_null(clips.column(name), 0.0).to_numpy(zero_copy_only=False) for name in QA_COLUMNS}
    total = sum(seconds.values()) if clips.num_rows else np.zeros(0)
    candidates = np.flatnonzero((total > 0) & found.originals)
    chosen = candidates[np.argsort(-total[candidates], kind="stable")][:limit]
    uris, ids = clips.column("uri").to_pylist(), clips.column("clip_id").to_pylist()
    return [{"clip_id": ids[i], "uri": uris[i], "duration_s": float(basis_s[i]),
             **{name: float(seconds[name][i]) for name in QA_COLUMNS}, "problem_s": float(total[i])}
            for i in chosen.tolist()]


def qa_coverage(clips: pa.Table, found: Copies, basis_s: np.ndarray, run: dict) -> dict:
    """What the picture checks measured: clips and frames sampled, under which --decode, and the
    clips sampled too sparsely to judge (fewer than --dup-min-samples: qa_insufficient_samples)."""
    min_samples = int((run.get("qa_thresholds") or {}).get("dup_min_samples", 3))
    sampled = clips.column("qa_sampled_frames").combine_chunks()
    counts = pc.fill_null(sampled, -1).to_numpy(zero_copy_only=False)
    few = np.flatnonzero((counts >= 0) & (counts < min_samples) & found.originals)
    uris, ids = clips.column("uri").to_pylist(), clips.column("clip_id").to_pylist()
    return {"decode": (run.get("options_key") or {}).get("decode", "none"), "clips": int(found.originals.sum()),
            "sampled_clips": int(((counts >= 0) & found.originals).sum()),
            "sampled_frames": int(counts[(counts >= 0) & found.originals].sum()),
            "min_samples": min_samples, "count": len(few),
            "insufficient": [{"clip_id": ids[i], "uri": uris[i], "samples": int(counts[i]),
                              "duration_s": float(basis_s[i])} for i in few.tolist()[:MAX_GROUPS]]}
