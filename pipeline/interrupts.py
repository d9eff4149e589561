"""Ctrl-C and SIGTERM during `clipindex index`: one line, exit 130/143, nothing half-done.

Before, SIGINT reached every process of the run at once (the launcher, Beam's SDK
worker processes, each isolated reader) and each printed its own
KeyboardInterrupt traceback, ~70 interleaved lines. Now:

- the isolated readers start with SIGINT and SIGTERM blocked (transforms.isolation.prestart),
  and on the local runner the launcher's main thread blocks them too before any
  thread or process starts, so Beam's threads inherit the mask (it survives fork
  and exec). Beam starts SDK worker processes through `sh -c`, which clears it:
  they block the signals again first thing (pipeline.sdk_worker). None of them
  ever sees the signal.
  (With --runner the job server's own processes keep their signals: Beam stops
  them with SIGINT.)
- one watcher thread, the only one with the signals unblocked, is woken through
  Python's wakeup fd. It first runs the savers the run registered (the workers
  close their open Parquet files into the run's checkpoint, transforms.storage.keep_on_stop),
  prints one line, kills the whole process tree (SIGKILL: silent), runs the
  clean-ups the run registered (its unfinished snapshot, the progress folder, the
  lock) and ends the process with os._exit(128 + signal). What finished before is
  in the checkpoint (transforms.storage.checkpoints), and the line counts it.
- a commit in progress finishes first; after it the run is live and only the
  tidying up is cut short.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from typing import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_VERB = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    try:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    # The command name may hold spaces and parentheses: fields follow the last ')'.
                    parent = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
        return children
    except FileNotFoundError:  # no /proc (macOS): ask ps
        listing = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], capture_output=True, text=True)
        for line in listing.stdout.splitlines():
            pid, parent = (int(field) for field in line.split())
            children.setdefault(parent, []).append(pid)
        return children


def kill_process_tree() -> None:
    """SIGKILL every descendant of this process (twice: one may have started a child meanwhile)."""
    for _ in range(2):
        children = _children_by_parent()
        pending, found = [os.getpid()], []
        while pending:
            for child in children.get(pending.pop(), []):
                found.append(child)
                pending.append(child)
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _before_any_clip() -> str:
    return "before reading any clip; nothing written"


class Interrupts:
    """The watcher thread and what a run registers with it."""

    def __init__(self) -> None:
        self._cleanups: list[Callable[[], None]] = []
        self._savers: list[Callable[[], None]] = []
        self._status: Callable[[], str] = _before_any_clip
        self._commit = threading.Lock()
        self._committed = False
        self._armed = False

    def arm(self, block_in_main_thread: bool) -> None:
        """Take SIGINT/SIGTERM from now on (main thread, before threads or children start)."""
        if self._armed or threading.current_thread() is not threading.main_thread():
            return
        read_fd, self._wake_fd = os.pipe()
        os.set_blocking(self._wake_fd, False)
        self._previous = {signo: signal.signal(signo, lambda *_: None) for signo in SIGNALS}
        self._previous_wakeup = signal.set_wakeup_fd(self._wake_fd)
        self._previous_mask = signal.pthread_sigmask(
            signal.SIG_BLOCK if block_in_main_thread else signal.SIG_UNBLOCK, SIGNALS)
        self._thread = threading.Thread(target=self._watch, args=(read_fd,), name="clipindex-signals",
                                        daemon=True)
        self._thread.start()
        self._armed = True

    def disarm(self) -> None:
        """Back to Python's defaults (the command is over, or a test called main())."""
        if not self._armed:
            return
        self._armed = False
        signal.set_wakeup_fd(self._previous_wakeup)
        for signo, handler in self._previous.items():
            signal.signal(signo, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, self._previous_mask)
        os.write(self._wake_fd, b"\0")  # wakes the watcher, which then ends
        self._thread.join(timeout=5)
        os.close(self._wake_fd)
        self._cleanups.clear()
        self._savers.clear()
        self._committed = False
        self._status = _before_any_clip

    @contextlib.contextmanager
    def cleanup(self, action: Callable[[], None]) -> Iterator[None]:
        """Run `action` if the run is interrupted while inside this block."""
        self.add_cleanup(action)
        try:
            yield
        finally:
            self.remove_cleanup(action)

    def add_cleanup(self, action: Callable[[], None]) -> None:
        """Run `action` on an interrupt (the last added runs first) until removed."""
        self._cleanups.append(action)

    def remove_cleanup(self, action: Callable[[], None]) -> None:
        self._cleanups.remove(action)

    def add_saver(self, action: Callable[[], None]) -> None:
        """Run `action` on an interrupt before a commit, ahead of the line and the kill: it keeps work."""
        self._savers.append(action)

    def remove_saver(self, action: Callable[[], None]) -> None:
        self._savers.remove(action)

    def set_status(self, status: Callable[[], str]) -> None:
        """What the interrupt line says after 'interrupted ': e.g. 'after 12 of 40 clips; ...'."""
        self._status = status

    @contextlib.contextmanager
    def committing(self) -> Iterator[None]:
        """An interrupt waits for this block; after it the run counts as committed."""
        with self._commit:
            yield
            self._committed = True

    def _watch(self, read_fd: int) -> None:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # the one thread the signals reach
        with os.fdopen(read_fd, "rb", buffering=0) as wake:
            while True:
                data = wake.read(1)
                if not data or data == b"\0" or not self._armed:
                    return
                if data[0] in SIGNALS:
                    self._stop(signal.Signals(data[0]))

    def _stop(self, signo: signal.Signals) -> None:
        with self._commit:  # a commit in progress completes first
            if self._committed:
                line = "after the commit: the run is live; tidying up was cut short"
            else:
                for action in self._savers:
                    with contextlib.suppress(Exception):
                        action()
                try:
                    line = self._status()
                except Exception as exc:  # the line must still be printed
                    line = f"nothing committed ({type(exc).__name__})"
            sys.stderr.flush()
            os.write(2, f"clipindex: {_VERB.get(signo, 'stopped by ' + signo.name)} {line}\n".encode())
            # From here on nothing this process or its children print is of use: one line only.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            kill_process_tree()
            for action in reversed(self._cleanups):
                with contextlib.suppress(Exception):
                    action()
            os._exit(128 + int(signo))


INTERRUPTS = Interrupts()

