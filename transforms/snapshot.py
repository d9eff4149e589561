"""Atomic snapshots of the index directory, and the single-writer lock.

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
import secrets
import socket
from typing import Optional

from transforms import storage
from transforms.media_io import is_remote

TABLES = ("clips", "frames", "samples", "errors")
THUMBS = "thumbs"  # SNAPSHOT/thumbs/<clip_id>.jpg with --thumbnails
KEEP_SNAPSHOTS = 2  # the live one and its predecessor (readers may still hold it)


class OutputProblem(Exception):
    """The output directory cannot be used (exit 2)."""


def new_run_id(now: Optional[dt.datetime] = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def check_writable(output_dir: str) -> None:
    """Fail early (before anything is written) if DIR cannot be created or written."""
    if is_remote(output_dir):
        from transforms.gcs import bucket_exists

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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """An exclusive lock; a second run on the same DIR refuses to start.

    Locally an O_EXCL file; on GCS an object created with a generation-0
    precondition. A lock whose owner died on this host is broken.
    """

    def __init__(self, output_dir: str):
        self.path = storage.join(output_dir, ".lock")
        self._held = False

    def _create(self, text: str) -> bool:
        if is_remote(self.path):
            from transforms.gcs import create_if_absent

            return create_if_absent(self.path, text.encode())
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        return True

    def __enter__(self) -> "RunLock":
        holder = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
        for _ in range(2):
            if self._create(holder):
                self._held = True
                return self
            if not self._break_stale_lock():
                break
        raise OutputProblem(self._held_message())

    def _read_holder(self) -> dict:
        try:
            return json.loads(storage.read_text(self.path))
        except (OSError, ValueError):
            return {}

    def _break_stale_lock(self) -> bool:
        holder = self._read_holder()
        same_host = holder.get("host") == socket.gethostname()
        if same_host and isinstance(holder.get("pid"), int) and not _pid_alive(holder["pid"]):
            self._remove()  # its owner died (e.g. SIGKILL): the lock is stale
            return True
        return False

    def _remove(self) -> None:
        storage.delete_file(self.path)

    def _held_message(self) -> str:
        holder = self._read_holder()
        return (f"another clipindex run holds {self.path} (pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')} since {holder.get('since', '?')}); not starting")

    def __exit__(self, *exc_info) -> None:
        if self._held:
            self._remove()
            self._held = False


def _replace_symlink(target: str, link: str) -> None:
    tmp = f"{link}.tmp-{os.getpid()}"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def commit(output_dir: str, run_id: str, summary: dict) -> None:
    """Make snapshots/<run_id> the live snapshot (one atomic replace), then tidy up.

    The snapshot is complete before this is called; run.json goes in first, the
    swap is the commit point, and the history entry follows it.
    """
    text = (json.dumps(summary, indent=2) + "\n").encode()
    storage.write_bytes(storage.join(snapshot_dir(output_dir, run_id), "run.json"), text)
    storage.write_bytes(storage.join(output_dir, "CURRENT"), (run_id + "\n").encode())
    if not is_remote(output_dir):
        _replace_symlink(os.path.join("snapshots", run_id), os.path.join(output_dir, "current"))
        for name in (*TABLES, THUMBS, "run.json"):
            link = os.path.join(output_dir, name)
            if not os.path.islink(link):
                if os.path.exists(link):
                    raise OutputProblem(f"{link} is not a clipindex symlink; clipindex owns this DIR layout")
                _replace_symlink(os.path.join("current", name), link)
    storage.makedirs(storage.join(output_dir, "runs"))
    storage.write_bytes(storage.join(output_dir, "runs", f"{run_id}.json"), text)
    prune_snapshots(output_dir, keep=run_id)


def prune_snapshots(output_dir: str, keep: str) -> None:
    """Remove snapshots of killed runs and all but the newest committed ones."""
    root = storage.join(output_dir, "snapshots")
    committed = {os.path.basename(p)[:-5] for p in storage.list_files(storage.join(output_dir, "runs"), ".json")}
    present = storage.list_subfolders(root)
    kept = set(sorted(r for r in present if r in committed or r == keep)[-KEEP_SNAPSHOTS:]) | {keep}
    for run_id in present:
        if run_id not in kept:
            storage.delete_tree(storage.join(root, run_id))
