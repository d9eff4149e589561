"""Atomic snapshots of the index directory, and the single-writer lock.

Layout of an index DIR (local filesystem):

    DIR/snapshots/<run_id>/{clips,frames,samples,errors}/*.parquet, run.json
    DIR/CURRENT              names the live snapshot (replaced atomically)
    DIR/current -> snapshots/<run_id>   (symlink, replaced atomically)
    DIR/clips -> current/clips, DIR/frames, DIR/samples, DIR/errors, DIR/thumbs, DIR/run.json
    DIR/runs/<run_id>.json   history of every committed run
    DIR/.lock                held while a run writes

A run writes a new snapshot directory beside the live one and commits by one
rename of the `current` symlink (and of CURRENT), so a reader of
DIR/clips/*.parquet sees either the old snapshot or the new one, never a mix,
and a run killed at any point leaves the previous snapshot untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import socket
from typing import Optional

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
    return os.path.join(output_dir, "snapshots", run_id)


def current_run_id(output_dir: str) -> Optional[str]:
    """The live run: the `current` symlink decides (it is swapped last), else CURRENT."""
    link = os.path.join(output_dir, "current")
    if os.path.islink(link):
        return os.path.basename(os.readlink(link).rstrip("/"))
    try:
        with open(os.path.join(output_dir, "CURRENT"), encoding="utf-8") as handle:
            return handle.read().strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def current_snapshot(output_dir: str) -> Optional[str]:
    """Path of the live snapshot, or None when DIR holds no committed run."""
    run_id = current_run_id(output_dir)
    if run_id is None:
        return None
    path = snapshot_dir(output_dir, run_id)
    return path if os.path.isfile(os.path.join(path, "run.json")) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """An exclusive lock file; a second run on the same DIR refuses to start."""

    def __init__(self, output_dir: str):
        self.path = os.path.join(output_dir, ".lock")
        self._held = False

    def __enter__(self) -> "RunLock":
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._break_stale_lock():
                    continue
                raise OutputProblem(self._held_message()) from None
            with os.fdopen(fd, "w") as handle:
                json.dump(holder, handle)
            self._held = True
            return self
        raise OutputProblem(self._held_message())

    def _read_holder(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def _break_stale_lock(self) -> bool:
        holder = self._read_holder()
        same_host = holder.get("host") == socket.gethostname()
        if same_host and isinstance(holder.get("pid"), int) and not _pid_alive(holder["pid"]):
            os.unlink(self.path)  # its owner died (e.g. SIGKILL): the lock is stale
            return True
        return False

    def _held_message(self) -> str:
        holder = self._read_holder()
        return (f"another clipindex run holds {self.path} (pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')} since {holder.get('since', '?')}); not starting")

    def __exit__(self, *exc_info) -> None:
        if self._held:
            os.unlink(self.path)
            self._held = False


def _replace_symlink(target: str, link: str) -> None:
    tmp = f"{link}.tmp-{os.getpid()}"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def commit(output_dir: str, run_id: str, summary: dict) -> None:
    """Make snapshots/<run_id> the live snapshot (one atomic rename), then tidy up.

    The snapshot is complete before this is called; run.json goes in first, the
    symlink swap is the commit point, and the history entry follows it.
    """
    text = json.dumps(summary, indent=2) + "\n"
    _write_atomic(os.path.join(snapshot_dir(output_dir, run_id), "run.json"), text)
    _write_atomic(os.path.join(output_dir, "CURRENT"), run_id + "\n")
    _replace_symlink(os.path.join("snapshots", run_id), os.path.join(output_dir, "current"))
    os.makedirs(os.path.join(output_dir, "runs"), exist_ok=True)
    _write_atomic(os.path.join(output_dir, "runs", f"{run_id}.json"), text)
    for name in (*TABLES, THUMBS, "run.json"):
        link = os.path.join(output_dir, name)
        if not os.path.islink(link):
            if os.path.isdir(link):
                raise OutputProblem(f"{link} is a real directory; clipindex owns this DIR layout")
            _replace_symlink(os.path.join("current", name), link)
    prune_snapshots(output_dir, keep=run_id)


def prune_snapshots(output_dir: str, keep: str) -> None:
    """Remove snapshots of killed runs and all but the newest committed ones."""
    root = os.path.join(output_dir, "snapshots")
    if not os.path.isdir(root):
        return
    committed = set()
    runs_dir = os.path.join(output_dir, "runs")
    if os.path.isdir(runs_dir):
        committed = {name[:-5] for name in os.listdir(runs_dir) if name.endswith(".json")}
    kept = sorted(r for r in os.listdir(root) if r in committed or r == keep)[-KEEP_SNAPSHOTS:]
    for run_id in os.listdir(root):
        if run_id not in kept and run_id != keep:
            shutil.rmtree(os.path.join(root, run_id), ignore_errors=True)
