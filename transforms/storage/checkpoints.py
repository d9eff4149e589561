"""Checkpoints: rows of clips a run finished but did not commit, kept for the next run.

A first run over a real archive reads terabytes (sha256 of every byte) for days;
one Ctrl-C, crash or SIGKILL must not cost all of it. The index writer links
every Parquet file it closes into

    DIR/checkpoint/<key>/{clips,frames,samples}/*.parquet   (and thumbs/ with --thumbnails)

where <key> is a hash of the options that shape rows. It closes its files at
least every `roll_every_s` seconds, so a SIGKILL or a crash loses at most that
much work; on Ctrl-C or SIGTERM the launcher first has every local worker close
its open files (transforms.storage.keep_on_stop), so every clip finished is kept. The
checkpoint is never live: readers of DIR see only committed nights.

The next run with the same options (`resume`) keeps each clip whose rows are
complete there (one clip row, as many frame rows as its frame_count, as many
sample rows as qa_sampled_frames) and whose file still has the same uri, size and
mtime (or GCS generation); it compacts the checkpoint to exactly those rows,
links them into its new snapshot and reads only the rest. Its result equals an
uninterrupted run; the rows keep the run_id of the run that read them. Errors are
not kept: like failed clips of a committed run, they are read again. After a
successful commit the checkpoint is deleted.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
from typing import Optional

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas import CLIPS_SCHEMA, FileInfo
from transforms.faults import checkpoint_roll_s
from transforms.storage import fs as storage
from transforms.storage.readers import is_remote
from transforms.storage.snapshots import CARRIED_TABLES, same_file
from transforms.storage.parquet import count_rows, read_table, table_files, write_table

FOLDER = "checkpoint"
# A file open longer than this is closed (and kept) at the next row: what a SIGKILL can cost.
# Not shorter: every closed file stays in the committed snapshot, and an interrupt keeps
# the open ones anyway (transforms.storage.keep_on_stop).
ROLL_EVERY_S = 120.0


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Where a run keeps the files it closes, how often it closes them, and where the launcher
    asks for the open ones on an interrupt (shipped to workers)."""

    folder: str
    roll_every_s: float = ROLL_EVERY_S
    keep_socket: Optional[str] = None  # transforms.storage.keep_on_stop; None: closed files only

    def table_dir(self, table: str) -> str:
        return storage.join(self.folder, table)

    def keep(self, closed_path: str, name: str, table: str) -> None:
        """Link a closed (complete) Parquet file into the checkpoint, atomically."""
        folder = self.table_dir(table)
        final = storage.join(folder, name)
        if is_remote(final):  # a server-side copy: one object appears whole, or not at all
            storage.link_or_copy(closed_path, final)
            return
        storage.makedirs(folder)
        hidden = storage.join(folder, f".{name}.tmp")
        storage.link_or_copy(closed_path, hidden)  # a copy (no hard links) is not atomic: rename
        storage.rename(hidden, final)


def checkpoint_for(output_dir: str, options_key: dict) -> Checkpoint:
    """The checkpoint of runs with these options (the launcher reads the test override)."""
    digest = hashlib.sha256(json.dumps(options_key, sort_keys=True).encode()).hexdigest()[:16]
    return Checkpoint(storage.join(output_dir, FOLDER, digest), checkpoint_roll_s(ROLL_EVERY_S))


def _read(path: str, columns: Optional[list[str]]) -> Optional[pa.Table]:
    """One checkpoint file, or None when it cannot be read (it is then dropped)."""
    try:
        with storage.open_read(path) as handle:
            return pq.read_table(handle, columns=columns)
    except (OSError, pa.ArrowException):
        return None


def _clip_ids(path: str) -> Optional[pa.ChunkedArray]:
    """A file's clip_id column, dictionary-encoded (millions of frame rows, few distinct ids)."""
    try:
        with storage.open_read(path) as handle:
            return pq.read_table(handle, columns=["clip_id"], read_dictionary=["clip_id"]).column("clip_id")
    except (OSError, pa.ArrowException):
        return None


def _scan(checkpoint: Checkpoint) -> dict[str, dict[str, Optional[pa.ChunkedArray]]]:
    """table -> file -> its clip ids (None: unreadable), for the tables a checkpoint keeps."""
    return {table: {path: _clip_ids(path) for path in table_files(checkpoint.table_dir(table))}
            for table in CARRIED_TABLES}


def _rows_per_clip(files: dict[str, Optional[pa.ChunkedArray]]) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for ids in files.values():
        for chunk in ([] if ids is None else ids.chunks):
            for item in pc.value_counts(chunk).to_pylist():
                counts[item["values"]] += item["counts"]
    return counts


def complete_clips(checkpoint: Checkpoint, to_read: list[FileInfo],
                   scan: Optional[dict] = None) -> dict[str, str]:
    """clip_id -> uri of the clips whose rows are complete in the checkpoint and still current."""
    scan = scan if scan is not None else _scan(checkpoint)
    wanted = {info.uri: info for info in to_read}
    rows = []
    for path, ids in scan["clips"].items():
        table = None if ids is None else _read(path, ["clip_id", "uri", "size_bytes", "mtime_s", "generation",
                                                      "frame_count", "qa_sampled_frames"])
        if table is not None:
            rows.extend(table.to_pylist())
    if not rows:
        return {}
    clip_rows = collections.Counter(row["clip_id"] for row in rows)
    frames = _rows_per_clip(scan["frames"])
    samples = _rows_per_clip(scan["samples"])
    done = {}
    for row in rows:
        info = wanted.get(row["uri"])
        if (info is not None and clip_rows[row["clip_id"]] == 1
                and same_file(info, row["size_bytes"], row["mtime_s"], row["generation"])
                and frames[row["clip_id"]] == row["frame_count"]
                and samples[row["clip_id"]] == (row["qa_sampled_frames"] or 0)):
            done[row["clip_id"]] = row["uri"]
    return done


def _kept_rows(ids: pa.ChunkedArray, keep: pa.Array) -> pa.ChunkedArray:
    """Row mask of the ids in `keep`, decided once per distinct id (the dictionary), not per row."""
    return pa.chunked_array([pc.take(pc.is_in(chunk.dictionary, value_set=keep), chunk.indices)
                             for chunk in ids.chunks], pa.bool_())


def _compact(checkpoint: Checkpoint, scan: dict, keep_ids: set[str], run_id: str) -> None:
    """Leave exactly the rows of `keep_ids` in the checkpoint (files all kept stay as they are)."""
    keep = pa.array(sorted(keep_ids), pa.string())
    for table, files in scan.items():
        for number, (path, ids) in enumerate(files.items()):
            kept = None if ids is None else _kept_rows(ids, keep)
            kept_count = 0 if kept is None else (pc.sum(kept).as_py() or 0)
            if ids is not None and kept_count == len(ids):
                continue
            data = _read(path, None) if kept_count else None
            if data is not None:
                write_table(data.filter(kept),
                            storage.join(checkpoint.table_dir(table), f"{run_id}-resumed-{number:05d}.parquet"))
            storage.delete_file(path)


def resume(checkpoint: Checkpoint, draft, to_read: list[FileInfo],
           run_id: str) -> tuple[list[FileInfo], int]:
    """Put the checkpoint's complete clips into the night (a storage.snapshots Draft: its run's
    folders); returns (still to read, clips resumed)."""
    scan = _scan(checkpoint)
    done = complete_clips(checkpoint, to_read, scan)
    _compact(checkpoint, scan, set(done), run_id)
    for table in CARRIED_TABLES:
        for path in table_files(checkpoint.table_dir(table)):
            storage.link_or_copy(path, storage.join(draft.folder(table), path.rsplit("/", 1)[-1]))
    resumed = set(done.values())
    return [info for info in to_read if info.uri not in resumed], len(done)


def collect_thumbnails(checkpoint: Checkpoint, draft) -> None:
    """With --thumbnails the readers write into the checkpoint: stage the night's clips' sheets in
    the run's scratch folder (the commit moves them into DIR/thumbs)."""
    sheets = storage.list_files(checkpoint.table_dir("thumbs"), ".jpg")
    if not sheets:
        return
    clip_ids = set(read_table(draft.files("clips"), CLIPS_SCHEMA, ["clip_id"]).column("clip_id").to_pylist())
    staged = storage.join(draft.scratch, "thumbs")
    storage.makedirs(staged)
    for path in sheets:
        name = path.rsplit("/", 1)[-1]
        target = storage.join(staged, name)
        if name[: -len(".jpg")] in clip_ids and not storage.exists(target):
            storage.link_or_copy(path, target)


def kept_clips(checkpoint: Checkpoint) -> int:
    """Clip rows in the checkpoint's closed files (from Parquet footers: no data read)."""
    try:
        return count_rows(checkpoint.table_dir("clips"))
    except (OSError, pa.ArrowException):
        return 0


def discard(checkpoint: Checkpoint) -> None:
    """After a successful commit: the checkpoint's rows are in the live snapshot now."""
    storage.delete_tree(checkpoint.folder)
    parent = checkpoint.folder.rsplit("/", 1)[0]
    if not is_remote(parent) and os.path.isdir(parent) and not os.listdir(parent):
        os.rmdir(parent)  # no checkpoint of other options left
