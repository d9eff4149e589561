"""Ctrl-C and SIGTERM keep every clip the workers finished, not only the files already closed.

The index writer (transforms.write) buffers rows and links a Parquet file into the
checkpoint when it closes it, at the latest every `roll_every_s` (120 s). A run stopped
between two closes lost everything since the last one: Ctrl-C in the first two minutes
kept nothing. Closing files every few seconds instead would leave thousands of small files
in every committed snapshot of a long run, so on an interrupt the launcher asks first:

- the launcher listens on a Unix socket in the run's local progress folder (`Requests`);
  every process that hosts checkpointing writers (the launcher itself with one local SDK
  worker, else each SDK worker process) connects when its first writer sets up (`register`);
- on SIGINT/SIGTERM (pipeline.interrupts) the launcher sends one byte on every connection
  and waits, at most KEEP_WAIT_S, for each process to answer;
- a process answers after `keep_all`: it takes ROWS_LOCK for good and has each writer close
  its open file into the checkpoint. The IndexClip DoFn holds ROWS_LOCK while it hands one
  clip's rows to the writers, so every clip counted in the progress line is then wholly in
  closed files, and nothing is written in that process afterwards. Then the launcher kills
  the process tree.

Workers that cannot reach the socket (remote runners) keep only their closed files, and a
SIGKILL, a crash or the OOM killer leaves no time to ask: then at most `roll_every_s` of
work is lost, as before. Standard library only: the launcher imports it before Beam.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
import weakref
from typing import Optional

KEEP_WAIT_S = 10.0  # an interrupt waits at most this long for the workers' open files
SOCKET_NAME = "keep.sock"
_REQUEST, _KEPT = b"k", b"d"

# Held while rows move between this process's DoFns (one clip's rows from IndexClip to the
# writers, a writer changing its files); an interrupt takes it and never gives it back.
ROWS_LOCK = threading.RLock()
_writers: "weakref.WeakSet" = weakref.WeakSet()
_listening: set[str] = set()
_registry = threading.Lock()


def register(writer, socket_path: Optional[str]) -> None:
    """Keep `writer`'s open rows when the launcher listening at `socket_path` asks."""
    with _registry:
        _writers.add(writer)
        if not socket_path or socket_path in _listening:
            return
        connection = _connect(socket_path)
        if connection is None:
            return
        _listening.add(socket_path)
    threading.Thread(target=_listen, args=(connection, socket_path), name="clipindex-keep", daemon=True).start()


def unregister(writer) -> None:
    with _registry:
        _writers.discard(writer)


def _connect(socket_path: str) -> Optional[socket.socket]:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(socket_path)
        return connection
    except OSError:  # a remote worker (the launcher's folder is not on this machine), or the run is over
        connection.close()
        return None


def keep_all(lock_wait_s: float = KEEP_WAIT_S) -> None:
    """Stop this process's rows where they are, and have every writer keep its open file."""
    if not ROWS_LOCK.acquire(timeout=lock_wait_s):
        return  # a write stuck mid-row-group (a hung bucket): only the closed files count
    with _registry:
        writers = list(_writers)
    for writer in writers:
        with contextlib.suppress(Exception):  # one failed write must not cost the other tables
            writer.keep_open_rows()


def _listen(connection: socket.socket, socket_path: str) -> None:
    with connection, contextlib.suppress(OSError):
        while connection.recv(1) == _REQUEST:  # b"": the launcher closed it, the run is over
            keep_all()
            connection.sendall(_KEPT)
    with _registry:
        _listening.discard(socket_path)


class Requests:
    """The launcher's end. Workers' connections wait in the listen backlog: no thread accepts
    them until an interrupt, which takes them all, asks each, and waits for the answers."""

    def __init__(self, folder: str):
        self.path: Optional[str] = os.path.join(folder, SOCKET_NAME)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._server.bind(self.path)
            self._server.listen(socket.SOMAXCONN)
            self._server.setblocking(False)
        except OSError:  # e.g. a folder path too long for a socket address: only closed files are kept
            self._server.close()
            self.path = None
        self._workers: list[socket.socket] = []

    def keep_everywhere(self, wait_s: float = KEEP_WAIT_S) -> None:
        """Ask every connected process to keep its open rows; return when all answered, or after wait_s."""
        if self.path is None:
            return
        deadline = time.monotonic() + wait_s
        self._workers += self._accept_waiting()
        asked = [worker for worker in self._workers if _send(worker, _REQUEST)]
        while asked and (left_s := deadline - time.monotonic()) > 0:
            answered, _, _ = select.select(asked, [], [], left_s)
            asked = [worker for worker in asked if worker not in answered]  # an answer, or EOF: it ended

    def _accept_waiting(self) -> list[socket.socket]:
        accepted = []
        while True:
            try:
                worker, _ = self._server.accept()
            except OSError:  # BlockingIOError: no more waiting
                return accepted
            worker.setblocking(True)
            accepted.append(worker)

    def close(self) -> None:
        """The run is over: workers' listeners see end-of-file and stop."""
        for worker in [*self._workers, *self._accept_waiting()]:
            worker.close()
        self._server.close()


def _send(worker: socket.socket, data: bytes) -> bool:
    try:
        worker.sendall(data)
        return True
    except OSError:  # that worker process has ended
        return False
