"""Atomic snapshots of the index directory (the lock is transforms.storage.lock.lease).

Layout of an index DIR:

    DIR/snapshots/<run_id>/{clips,frames,samples,errors}/*.parquet, run.json
    DIR/CURRENT              names the live snapshot (replaced atomically)
    DIR/runs/<run_id>.json   history of every committed run
    DIR/.lock                held while a run writes
  local disks only (symlinks, so DIR/clips/*.parquet is the live table):
    DIR/current -> snapshots/<run_id>   (replaced atomically: the commit point)
    DIR/clips -> current/clips, DIR/frames, DIR/samples, DIR/errors, DIR/thumbs, DIR/run.json

A run writes a new snapshot beside the live one and commits with one atomic
replace (the `current` symlink locally; the CURRENT object on GCS, where a
single-object write is atomic), so readers see the old snapshot or the new
one, never a mix, and a run killed at any point leaves the previous snapshot
untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
from typing import Optional

from transforms.storage import fs as storage
from transforms.faults import fail_point
from transforms.storage.readers import is_remote

TABLES = ("clips", "frames", "samples", "errors")
CARRIED_TABLES = ("clips", "frames", "samples")  # errors are always retried, never carried
THUMBS = "thumbs"  # SNAPSHOT/thumbs/<clip_id>.jpg with --thumbnails
KEEP_SNAPSHOTS = 7  # committed snapshots kept (--keep-snapshots): a week of nights to go back to


_TEMPORARY_NAME = re.compile(r"\.tmp-\d+$")


class OutputProblem(Exception):
    """The output directory cannot be used (exit 2)."""


def new_run_id(now: Optional[dt.datetime] = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def check_writable(output_dir: str) -> None:
    """Fail early (before anything is written) if DIR cannot be created or written."""
    if is_remote(output_dir):
        from transforms.storage.gcs import bucket_exists

        if output_dir.startswith("gs://") and not bucket_exists(output_dir):
            raise OutputProblem(f"output {output_dir}: bucket does not exist or is not accessible")
        return
    probe = os.path.abspath(output_dir)
    if os.path.exists(probe) and not os.path.isdir(probe):
        raise OutputProblem(f"output {output_dir} exists and is not a directory")
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise OutputProblem(f"output {output_dir} is not writable ({probe} does not allow writing)")


def snapshot_dir(output_dir: str, run_id: str) -> str:
    return storage.join(output_dir, "snapshots", run_id)


def current_run_id(output_dir: str) -> Optional[str]:
    """The live run: locally the `current` symlink decides (it is swapped last), else CURRENT."""
    link = os.path.join(output_dir, "current")
    if not is_remote(output_dir) and os.path.islink(link):
        return os.path.basename(os.readlink(link).rstrip("/"))
    try:
        return storage.read_text(storage.join(output_dir, "CURRENT")).strip() or None
    except (FileNotFoundError, NotADirectoryError, OSError):
        return None


def current_snapshot(output_dir: str) -> Optional[str]:
    """Path of the live snapshot, or None when DIR holds no committed run."""
    run_id = current_run_id(output_dir)
    if run_id is None:
        return None
    path = snapshot_dir(output_dir, run_id)
    return path if storage.exists(storage.join(path, "run.json")) else None


def _replace_symlink(target: str, link: str) -> None:
    tmp = f"{link}.tmp-{os.getpid()}"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def commit(output_dir: str, run_id: str, summary: dict, keep_snapshots: int = KEEP_SNAPSHOTS) -> None:
    """Make snapshots/<run_id> the live snapshot (one atomic replace), then tidy up.

    The snapshot is complete before this is called; run.json goes in first, the
    swap is the commit point, and the history entry follows it. Every step is
    idempotent: a run killed between two steps leaves the previous snapshot live
    (before the swap) or the new one live with its history entry or links
    missing (after it), and the next run's `finish_interrupted_commit` completes it.
    """
    text = (json.dumps(summary, indent=2) + "\n").encode()
    storage.write_bytes(storage.join(snapshot_dir(output_dir, run_id), "run.json"), text)
    fail_point("commit:before_current")
    storage.write_bytes(storage.join(output_dir, "CURRENT"), (run_id + "\n").encode())
    fail_point("commit:before_swap")
    if not is_remote(output_dir):
        _replace_symlink(os.path.join("snapshots", run_id), os.path.join(output_dir, "current"))
        fail_point("commit:after_swap")
        _link_tables(output_dir)
    _record_history(output_dir, run_id, text)
    fail_point("commit:before_prune")
    prune_snapshots(output_dir, keep=run_id, keep_snapshots=keep_snapshots)


def _link_tables(output_dir: str) -> None:
    for name in (*TABLES, THUMBS, "run.json"):
        link = os.path.join(output_dir, name)
        if not os.path.islink(link):
            if os.path.exists(link):
                raise OutputProblem(f"{link} is not a clipindex symlink; clipindex owns this DIR layout")
            _replace_symlink(os.path.join("current", name), link)


def _record_history(output_dir: str, run_id: str, text: bytes) -> None:
    storage.makedirs(storage.join(output_dir, "runs"))
    storage.write_bytes(storage.join(output_dir, "runs", f"{run_id}.json"), text)


def finish_interrupted_commit(output_dir: str) -> None:
    """Complete the steps a killed run left undone after (or before) its commit point.

    The live snapshot is the one the commit point names (the `current` symlink
    locally, CURRENT on GCS): CURRENT is made to agree with it, the table links
    are made, and its history entry is written if missing.
    """
    if not is_remote(output_dir):
        _remove_temporary_names(output_dir)
    run_id = current_run_id(output_dir)
    if run_id is None:
        return
    run_json = storage.join(snapshot_dir(output_dir, run_id), "run.json")
    if not storage.exists(run_json):
        return
    if not is_remote(output_dir):
        current = storage.join(output_dir, "CURRENT")
        if not storage.exists(current) or storage.read_text(current).strip() != run_id:
            storage.write_bytes(current, (run_id + "\n").encode())
        _link_tables(output_dir)
    if not storage.exists(storage.join(output_dir, "runs", f"{run_id}.json")):
        with storage.open_read(run_json) as handle:
            _record_history(output_dir, run_id, handle.read())


def _remove_temporary_names(output_dir: str) -> None:
    """`NAME.tmp-PID` files and links a killed commit left (atomic replaces write those first)."""
    for folder in (output_dir, os.path.join(output_dir, "runs")):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if _TEMPORARY_NAME.search(name):
                    os.unlink(os.path.join(folder, name))


def prune_snapshots(output_dir: str, keep: str, keep_snapshots: int = KEEP_SNAPSHOTS) -> None:
    """Remove snapshots of killed runs and all but the newest committed ones (runs/*.json stay)."""
    root = storage.join(output_dir, "snapshots")
    committed = {os.path.basename(p)[:-5] for p in storage.list_files(storage.join(output_dir, "runs"), ".json")}
    present = storage.list_subfolders(root)
    newest = sorted(r for r in present if r in committed or r == keep)[-max(1, keep_snapshots):]
    kept = set(newest) | {keep}
    for run_id in present:
        if run_id not in kept:
            storage.delete_tree(storage.join(root, run_id))


def same_file(info, size, mtime, generation) -> bool:
    """Is `info` (a FileInfo) the file version a stored row describes? GCS generations when
    either side has one (a rewrite keeps the size), else size and mtime."""
    if info.generation is not None or generation is not None:
        return info.generation == generation and info.size_bytes == size
    return info.size_bytes == size and info.mtime_s == mtime
