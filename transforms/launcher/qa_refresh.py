"""New QA thresholds without decoding again: per-clip QA seconds recomputed from stored samples.

The samples table keeps every measurement the thresholds are applied to
(`interval_s`, `dark_fraction`, `sharpness`, `change_from_previous`), so when
a nightly run changes only `--qa-dark-fraction`, `--qa-frozen-change` or
`--qa-blur-sharpness`, the carried-forward clips get their `qa_dark_s`,
`qa_frozen_s` and `qa_blurry_s` recomputed here (launcher side, before the
duplicates pass, which reads the samples itself) with the same function a
fresh decode uses (visual_qa.summarize_samples), instead of being read again.
`--qa-dark-luma` is the exception: `dark_fraction` is measured with it, so it
is part of the options key and a change re-reads the clips.
"""

from __future__ import annotations

import json
from typing import Optional

import numpy as np
import pyarrow as pa

from schemas import CLIPS_SCHEMA, SAMPLES_SCHEMA, QaOptions
from transforms.storage import fs as storage
from transforms.storage.parquet import read_table, table_files, write_table
from transforms.clip.qa.analyze import summarize_samples

QA_COLUMNS = ("qa_dark_s", "qa_frozen_s", "qa_blurry_s")
REFRESHED_FILE = "qa-refreshed.parquet"
SAMPLE_COLUMNS = ["clip_id", "interval_s", "dark_fraction", "sharpness", "change_from_previous"]


def previous_thresholds(previous: Optional[str]) -> Optional[dict]:
    if previous is None:
        return None
    run = json.loads(storage.read_text(storage.join(previous, "run.json")))
    return run.get("qa_thresholds")


def _summaries(samples: pa.Table, clip_ids: set[str], qa: QaOptions) -> dict[str, tuple]:
    """clip_id -> (dark_s, frozen_s, blurry_s) from each clip's samples, in their stored order."""
    ids = samples.column("clip_id").to_numpy(zero_copy_only=False)
    order = np.argsort(ids, kind="stable")  # group by clip, keeping each clip's sample order
    samples, ids = samples.take(pa.array(order)), ids[order]
    bounds = np.flatnonzero(ids[1:] != ids[:-1]) + 1
    found = {}
    for begin, end in zip(np.r_[0, bounds], np.r_[bounds, len(ids)]):
        if end > begin and ids[begin] in clip_ids:
            summary = summarize_samples(samples.slice(begin, end - begin), qa)
            found[ids[begin]] = (summary.dark_s, summary.frozen_s, summary.blurry_s)
    return found


def refresh_qa_seconds(snapshot: str, carried_ids: set[str], qa: QaOptions) -> int:
    """Recompute the QA seconds of `carried_ids` in the snapshot's clips table; returns how many.

    The clips files are rewritten as one new file (carried files are hard links into the
    previous snapshot: they are replaced, never modified in place).
    """
    if not carried_ids:
        return 0
    samples = read_table(storage.join(snapshot, "samples"), SAMPLES_SCHEMA, SAMPLE_COLUMNS)
    summaries = _summaries(samples, carried_ids, qa)
    if not summaries:
        return 0
    clips_dir = storage.join(snapshot, "clips")
    clips = read_table(clips_dir, CLIPS_SCHEMA)
    ids = clips.column("clip_id").to_pylist()
    for number, name in enumerate(QA_COLUMNS):
        old = clips.column(name).to_pylist()
        values = [summaries[c][number] if c in summaries else v for c, v in zip(ids, old)]
        clips = clips.set_column(clips.schema.get_field_index(name), name, pa.array(values, pa.float64()))
    old_files = table_files(clips_dir)
    write_table(clips.cast(CLIPS_SCHEMA), storage.join(clips_dir, REFRESHED_FILE))
    for path in old_files:
        if path.rsplit("/", 1)[-1] != REFRESHED_FILE:
            storage.delete_file(path)
    return len(summaries)
