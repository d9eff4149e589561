"""The single-writer lease lock of an index DIR (`DIR/.lock`), safe across hosts.

A run holds the lock for a lease (`--lock-lease-s`, default 600 s) and renews
it every lease/3 s on a background thread. A lock not renewed for its lease is
stale: its run is dead (killed, OOM, an evicted pod on another host) and the
next run, on any host, breaks it and says so (stderr and run.json
`broke_stale_lock`). A live run is never broken: it renews long before its
lease runs out. On the same host (same host name, kernel boot and pid
namespace) a holder whose process is gone is stale at once, as before.

Fencing: the lock carries a random token and has a version (inode or GCS
generation); renewing and releasing act only while both still match, and
`check()` renews once more just before the commit point. A run that lost its
lock (paused past its lease while another run took over) raises `LockLost`
there and commits nothing; releasing never deletes another run's lock.

The lease the holder declared is the one that counts (a run started with a
short lease cannot break a holder that renews every 200 s), and ages are
measured on the storage's clock (see transforms.storage.lock.store), so hosts with
skewed clocks agree on what is stale.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sys
import threading
from typing import Optional

from transforms.faults import host_name
from transforms.storage.lock.gcs_store import GcsLockStore
from transforms.storage.lock.store import LocalLockStore, LockState
from transforms.storage.readers import is_remote
from transforms.storage.snapshots import OutputProblem

DEFAULT_LEASE_S = 600.0
MIN_LEASE_S = 1.0


class LockHeld(OutputProblem):
    """Another live run holds the lock (exit 2: nothing was started)."""


class LockLost(Exception):
    """This run's lease ran out and another run took the lock over (exit 1, nothing committed)."""


def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.readline().strip()
    except OSError:
        return ""


def this_host() -> dict:
    """Who holds a lock: enough to tell a dead process on this very host."""
    try:
        pid_ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        pid_ns = None
    return {"host": host_name(),
            "boot_id": _read_first_line("/proc/sys/kernel/random/boot_id"), "pid_ns": pid_ns}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def holder_gone(holder: dict, here: dict) -> bool:
    """The holder ran on this host (same name, boot and pid namespace) and its process is gone."""
    same = all(holder.get(k) == here[k] for k in ("host", "boot_id", "pid_ns")) and here["boot_id"]
    return bool(same) and isinstance(holder.get("pid"), int) and not _pid_alive(holder["pid"])


def describe(holder: dict) -> str:
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} since "
            f"{holder.get('since', '?')}")


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class RunLease:
    """`with RunLease(DIR, lease_s) as lease:` ... `lease.check()` just before committing."""

    def __init__(self, output_dir: str, lease_s: float = DEFAULT_LEASE_S):
        from transforms.storage import fs as storage

        self.path = storage.join(output_dir, ".lock")
        self.lease_s = max(float(lease_s), MIN_LEASE_S)
        self.broke_stale_lock: Optional[dict] = None  # the stale holder this run replaced
        self._store = lock_store(self.path)
        self._holder = {"token": secrets.token_hex(16), "pid": os.getpid(), **this_host(),
                        "since": _utc_now(), "lease_s": self.lease_s}
        self._version: Optional[object] = None
        self._lost: Optional[str] = None
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def token(self) -> str:
        return self._holder["token"]

    def _content(self) -> bytes:
        return json.dumps({**self._holder, "renewed_at": _utc_now()}).encode()

    def __enter__(self) -> "RunLease":
        self._acquire()
        self._thread = threading.Thread(target=self._renew_loop, name="clipindex-lease", daemon=True)
        self._thread.start()
        return self

    def _acquire(self) -> None:
        for _ in range(3):
            self._version = self._store.create(self._content())
            if self._version is not None:
                return
            state = self._store.read()
            if state is None:
                continue  # released between the two steps: try again
            if state.token == self.token:  # our create went through, its answer was lost
                self._version = state.version
                return
            reason = self._stale_reason(state)
            if reason is None:
                raise LockHeld(self._held_message(state))
            self._version = self._store.replace_stale(state, self._content())
            if self._version is not None:
                self.broke_stale_lock = {"holder": {k: v for k, v in state.holder.items() if k != "token"},
                                         "reason": reason, "broken_at": _utc_now()}
                print(f"clipindex: broke the stale lock {self.path} of {describe(state.holder)}: {reason}",
                      file=sys.stderr, flush=True)
                return
        state = self._store.read()
        raise LockHeld(self._held_message(state) if state else f"could not take {self.path}; not starting")

    def _age_s(self, state: LockState) -> float:
        return self._store.now_s() - state.modified_s

    def _stale_reason(self, state: LockState) -> Optional[str]:
        if holder_gone(state.holder, this_host()):
            return f"its process (pid {state.holder['pid']}) is gone from this host"
        lease_s = float(state.holder.get("lease_s") or self.lease_s)
        age_s = self._age_s(state)
        if age_s > lease_s:
            return f"not renewed for {age_s:.1f} s (lease {lease_s:g} s)"
        return None

    def _held_message(self, state: LockState) -> str:
        lease = state.holder.get("lease_s")
        lease_text = f", lease {lease:g} s" if isinstance(lease, (int, float)) else ""
        return (f"another clipindex run holds {self.path} ({describe(state.holder)}; renewed "
                f"{max(0.0, self._age_s(state)):.1f} s ago{lease_text}); not starting")

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self._renew()
            except LockLost:
                return
            except Exception:  # noqa: BLE001 - a storage hiccup: the next tick tries again
                continue

    def _renew(self) -> None:
        with self._mutex:
            if self._lost is None:
                version = self._store.renew(self._version, self.token, self._content())
                if version is None:
                    self._lost = self._lost_message()
                else:
                    self._version = version
            if self._lost is not None:
                raise LockLost(self._lost)

    def _lost_message(self) -> str:
        state = self._store.read()
        now = f"now held by {describe(state.holder)}" if state else "it is gone"
        return (f"this run lost its lock {self.path} (not renewed within its {self.lease_s:g} s lease, "
                f"and {now})")

    def check(self) -> None:
        """Renew once more and raise LockLost if the lock is no longer ours (before committing)."""
        self._renew()

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._mutex:
            removed = False
            if self._lost is None and self._version is not None:
                try:
                    removed = self._store.remove(self._version, self.token)  # only if still ours
                except Exception as problem:  # noqa: BLE001 - never hide why the run is ending
                    if exc is None:
                        raise
                    print(f"clipindex: could not release {self.path} ({type(problem).__name__}: {problem}); "
                          f"the next run takes it over once its {self.lease_s:g} s lease has run out",
                          file=sys.stderr, flush=True)
                    removed = True
                if not removed and isinstance(exc, Exception):
                    self._lost = self._lost_message()
            self._version = None
        if self._lost is not None and isinstance(exc, Exception) and not isinstance(exc, LockLost):
            raise LockLost(self._lost) from exc  # the lost lock is the reason worth reporting


def lock_store(path: str):
    if not is_remote(path):
        return LocalLockStore(path)
    if path.startswith("gs://"):
        return GcsLockStore(path)
    raise ValueError(f"the run lock needs a local folder or gs://, not {path}")
