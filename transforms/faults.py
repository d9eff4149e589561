"""Test-only fault hooks: environment variables the test suite sets, never users.

They make the failures that unattended nights meet (a crash between two commit
steps, a disk that answers EIO, a run slow enough to be killed mid-way)
happen on purpose, at a named point, without FUSE or root tricks:

- `CLIPINDEX_TEST_FAIL_AT=POINT`   raise RuntimeError at POINT (the `finally` blocks run);
- `CLIPINDEX_TEST_KILL_AT=POINT`   SIGKILL this process at POINT (nothing else runs);
- `CLIPINDEX_TEST_SLEEP_AT=POINT:S` sleep S seconds at POINT (time to SIGSTOP or SIGKILL a run);
- `CLIPINDEX_TEST_WAIT_AT=POINT:FILE` at POINT, create FILE.reached and wait until FILE exists
  (a test lines a run up behind an event, e.g. a started run waits to take the lock until
  another one was killed);
- `CLIPINDEX_TEST_IO_ERROR=ERRNO:STAGE:TEXT` raise OSError(ERRNO) at reader STAGE (`stat`, `open`,
  `read`, `remote`) for inputs whose uri contains TEXT, e.g. `EIO:read:bad-disk`;
- `CLIPINDEX_TEST_CRASH_ON=TEXT` / `CLIPINDEX_TEST_HANG_ON=TEXT`: a reader that opens an input
  whose uri contains TEXT dies of SIGSEGV / sleeps an hour (crash isolation and time-outs);
- `CLIPINDEX_TEST_HOSTNAME=NAME`: the host name the run lock records (where `unshare --uts`
  is not allowed);
- `CLIPINDEX_CHECKPOINT_EVERY_S=S`: close checkpoint files every S seconds instead of 120
  (0: after every clip), so a test can kill a run that kept something.

Children (isolated readers, Beam workers) inherit the environment, so a hook set
before a run reaches every process of it.
"""

from __future__ import annotations

import errno
import functools
import os
import signal
import socket
import time
from typing import Callable, Optional

FAIL_AT_ENV = "CLIPINDEX_TEST_FAIL_AT"
KILL_AT_ENV = "CLIPINDEX_TEST_KILL_AT"
SLEEP_AT_ENV = "CLIPINDEX_TEST_SLEEP_AT"
IO_ERROR_ENV = "CLIPINDEX_TEST_IO_ERROR"
WAIT_AT_ENV = "CLIPINDEX_TEST_WAIT_AT"
CRASH_ON_ENV = "CLIPINDEX_TEST_CRASH_ON"
HANG_ON_ENV = "CLIPINDEX_TEST_HANG_ON"
HOSTNAME_ENV = "CLIPINDEX_TEST_HOSTNAME"
ROLL_ENV = "CLIPINDEX_CHECKPOINT_EVERY_S"
WAIT_LIMIT_S = 300.0
HANG_S = 3600.0


def fail_point(point: str) -> None:
    """A named point of the launcher where a test may fail, kill or pause the run."""
    if os.environ.get(FAIL_AT_ENV) == point:
        raise RuntimeError(f"test failure injected at {point}")
    if os.environ.get(KILL_AT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
    name, _, seconds = os.environ.get(SLEEP_AT_ENV, "").partition(":")
    if name == point:
        time.sleep(float(seconds or 1))
    name, _, go_file = os.environ.get(WAIT_AT_ENV, "").partition(":")
    if name == point:
        open(go_file + ".reached", "w").close()
        deadline = time.monotonic() + WAIT_LIMIT_S
        while not os.path.exists(go_file) and time.monotonic() < deadline:
            time.sleep(0.02)


def io_fault(stage: str, uri: str) -> Optional[OSError]:
    """The OSError a test asked for at this reader stage and input, else None (raise it)."""
    spec = os.environ.get(IO_ERROR_ENV)
    if not spec:
        return None
    name, wanted_stage, text = spec.split(":", 2)
    if wanted_stage != stage or text not in uri:
        return None
    code = getattr(errno, name)
    return OSError(code, f"{os.strerror(code)} (injected by {IO_ERROR_ENV})")


@functools.lru_cache(maxsize=1)
def reader_fault() -> Optional[Callable[[str], None]]:
    """The crash/hang hook of this reader process, or None (the usual case: then the per-clip
    path checks nothing). Read once per process: readers inherit the environment at start."""
    crash_on, hang_on = os.environ.get(CRASH_ON_ENV), os.environ.get(HANG_ON_ENV)
    if not crash_on and not hang_on:
        return None

    def fault(uri: str) -> None:
        if crash_on and crash_on in uri:
            os.kill(os.getpid(), signal.SIGSEGV)
        if hang_on and hang_on in uri:
            time.sleep(HANG_S)

    return fault


def host_name() -> str:
    """This host's name as the run lock records it (a test may name another host)."""
    return os.environ.get(HOSTNAME_ENV) or socket.gethostname()


def checkpoint_roll_s(default_s: float) -> float:
    """How often checkpoint files are closed (read once per run, in the launcher)."""
    return float(os.environ.get(ROLL_ENV, default_s))
