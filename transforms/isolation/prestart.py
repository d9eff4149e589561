"""Isolated indexing children started before the launcher imports Beam.

Importing Beam takes the launcher ~1 s of one core; a child's own start-up
(Python, PyAV, numpy, pyarrow: ~0.4 s) can use the other core meanwhile
instead of delaying the first clip. Children wait for their configuration
message, so starting them early commits to nothing: `transforms.isolation.child`
takes them when the IndexClip DoFn sets up in this process, and any not taken
are closed at exit. Standard library only, so that it is cheap to import first.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
from typing import Optional

CHILD_COMMAND = [sys.executable, "-m", "transforms.isolation.child"]
# Ctrl-C reaches the whole process group; the launcher alone handles it (pipeline.interrupts)
# and kills the readers. Started with these blocked (the mask survives exec), a reader never
# prints a KeyboardInterrupt traceback of its own.
CHILD_BLOCKED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_waiting: list[subprocess.Popen] = []


def child_env() -> dict:
    """A reader's environment: numpy's OpenBLAS without its own thread pool.

    A reader works on small arrays, one clip at a time, next to other readers; OpenBLAS's
    threads (one per core, started when numpy is imported) only compete with them.
    """
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def spawn() -> subprocess.Popen:
    # The mask is per thread and a child inherits its spawning thread's: block, spawn, restore.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, CHILD_BLOCKED_SIGNALS)
    try:
        return subprocess.Popen(CHILD_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                                env=child_env())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start(count: int) -> None:
    for _ in range(count):
        _waiting.append(spawn())


def take() -> Optional[subprocess.Popen]:
    """A child started early and still alive, or None."""
    while _waiting:
        child = _waiting.pop(0)
        if child.poll() is None:
            return child
    return None


@atexit.register
def close_unused() -> None:
    while _waiting:
        child = _waiting.pop()
        child.stdin.close()  # EOF before the configuration: the child exits at once
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
        child.stdout.close()
