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

from typing import Optional

import numpy as np
import pyarrow as pa

from schemas import CLIPS_SCHEMA, SAMPLES_SCHEMA, QaOptions
from transforms.storage.parquet import read_table, write_table
from transforms.storage.snapshots import Draft, Snapshot
from transforms.clip.qa.analyze import summarize_samples

QA_COLUMNS = ("qa_dark_s", "qa_frozen_s", "qa_blurry_s")
REFRESHED_FILE = "qa-refreshed.parquet"
SAMPLE_COLUMNS = ["clip_id", "interval_s", "dark_fraction", "sharpness", "change_from_previous"]


def previous_thresholds(previous: Optional[Snapshot]) -> Optional[dict]:
    if previous is None:
        return None
    return previous.run.get("qa_thresholds")


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


def refresh_qa_seconds(draft: Draft, carried_ids: set[str], qa: QaOptions) -> int:
    """Recompute the QA seconds of `carried_ids` in the night's clips table; returns how many.

    The clips files are rewritten as one new file of this run (carried files belong to older
    versions too: they are removed from the table by the commit, never modified in place).
    """
    if not carried_ids:
        return 0
    samples = read_table(draft.files("samples"), SAMPLES_SCHEMA, SAMPLE_COLUMNS)
    summaries = _summaries(samples, carried_ids, qa)
    if not summaries:
        return 0
    old_files = draft.files("clips")
    clips = read_table(old_files, CLIPS_SCHEMA)
    ids = clips.column("clip_id").to_pylist()
    for number, name in enumerate(QA_COLUMNS):
        old = clips.column(name).to_pylist()
        values = [summaries[c][number] if c in summaries else v for c, v in zip(ids, old)]
        clips = clips.set_column(clips.schema.get_field_index(name), name, pa.array(values, pa.float64()))
    refreshed = f"{draft.folder('clips')}/{REFRESHED_FILE}"
    write_table(clips.cast(CLIPS_SCHEMA), refreshed)
    for path in old_files:
        if path != refreshed:
            draft.drop("clips", path)
    return len(summaries)
