"""Rows a retried attempt wrote twice: keep one copy of each, before the night is judged.

Beam promises exactly-once for a pipeline's data, not for a DoFn's side effects:
a runner that restarts work after a lost worker (Flink after a TaskManager dies,
Dataflow after a VM is preempted) may let the files of a first attempt and of
its retry both become visible, e.g. when the first attempt's commit step had
already run before the restart. The two attempts read the same bytes with the
same code, so their rows agree on every key (a clip's `index_wall_s` aside).
Before this step the every-input-once check refused such a night (nothing
lost, nothing doubled, but the run did not finish); now the second copy of a
row is dropped by key and the run says how many in `run.json`
(`retried_rows_dropped`). A clip that an attempt failed (an error row) and its
retry read is kept as a clip.

Only this run's files are looked at (`DIR/<table>/<run_id>/`, before the
commit names them): rows carried forward from earlier nights live in other
run folders and are never compared with tonight's. Cost on a run without
retries: the `clip_id` column of this run's clips and errors files (38,200 ids
at Boston's size); files are rewritten only when a clip appears twice (they
are this run's own, named by no version yet).
"""

from __future__ import annotations

from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from transforms.storage.parquet import read_file, table_files, write_table
from transforms.storage.snapshots import Draft

# What makes a row unique within a clip; the clip's rows are a function of its bytes.
ROW_KEYS = {
    "clips": ("clip_id",),
    "errors": ("clip_id",),
    "frames": ("clip_id", "frame_index"),
    "samples": ("clip_id", "pts_s"),
}


def drop_retried_rows(draft: Draft) -> dict[str, int]:
    """Rows dropped per table among the files this run wrote (empty when no clip was written twice)."""
    clip_files = table_files(draft.folder("clips"))
    error_files = table_files(draft.folder("errors"))
    clip_ids = _ids(clip_files)
    error_ids = _ids(error_files)
    twice = _repeated(clip_ids) | _repeated(error_ids) | (set(clip_ids) & set(error_ids))
    if not twice:
        return {}
    dropped = {}
    for table in ("clips", "frames", "samples"):
        dropped[table] = _dedupe_table(table_files(draft.folder(table)), ROW_KEYS[table], twice,
                                       also_drop=set())
    # An error row of a clip the retry read: the clip row stands.
    dropped["errors"] = _dedupe_table(error_files, ROW_KEYS["errors"], twice, also_drop=set(clip_ids) & twice)
    return {table: count for table, count in dropped.items() if count}


def _ids(files: Iterable[str]) -> list[str]:
    ids: list[str] = []
    for path in files:
        ids.extend(read_file(path, ["clip_id"]).column("clip_id").to_pylist())
    return ids


def _repeated(ids: list[str]) -> set[str]:
    seen: set[str] = set()
    repeated: set[str] = set()
    for clip_id in ids:
        (repeated if clip_id in seen else seen).add(clip_id)
    return repeated


def _dedupe_table(files: list[str], keys: tuple[str, ...], twice: set[str], also_drop: set[str]) -> int:
    """Keep the first row of each key among the clips in `twice` (files in name order); drop every
    row of a clip in `also_drop`. Files without such clips are not touched."""
    seen: set[tuple] = set()
    dropped = 0
    candidates = pa.array(sorted(twice), pa.string())
    for path in sorted(files):
        table = read_file(path)
        involved = pc.is_in(table.column("clip_id"), value_set=candidates)
        if not pc.any(involved).as_py():
            continue
        keep = []
        key_columns = [table.column(name).to_pylist() for name in keys]
        for row, is_involved in enumerate(involved.to_pylist()):
            if not is_involved:
                keep.append(True)
                continue
            key = tuple(column[row] for column in key_columns)
            keep.append(key[0] not in also_drop and key not in seen)
            seen.add(key)
        kept = table.filter(pa.array(keep, pa.bool_()))
        if kept.num_rows != table.num_rows:
            dropped += table.num_rows - kept.num_rows
            write_table(kept, path)
    return dropped
