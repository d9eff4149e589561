"""Helpers for the lock tests: runs under another host name, started in the background."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time

from tests.support.runs import REPO


@functools.lru_cache(maxsize=1)
def unshare_works() -> bool:
    """`unshare --uts` gives a process its own host name (root, or a user namespace)."""
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--uts", "true"], capture_output=True).returncode == 0


def other_host(hostname: str) -> tuple[list[str], dict]:
    """Command prefix and environment that run a command under another host name.

    The real thing where allowed (a UTS namespace whose host name is set), else the
    test-only CLIPINDEX_TEST_HOSTNAME override.
    """
    if unshare_works():
        return ["unshare", "--uts", "sh", "-c", f'hostname {hostname} && exec "$0" "$@"'], {}
    return [], {"CLIPINDEX_TEST_HOSTNAME": hostname}


def start_index(inputs: str, out: str, *flags: str, env: dict | None = None,
                host: str | None = None) -> subprocess.Popen:
    """`clipindex index` in the background, in its own process group (to SIGKILL/SIGSTOP it whole)."""
    prefix, host_env = other_host(host) if host else ([], {})
    return subprocess.Popen([*prefix, sys.executable, "-m", "pipeline", "index", "--input", inputs,
                             "--output", out, *flags],
                            cwd=REPO, env={**os.environ, **host_env, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def wait_for(predicate, timeout_s: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout_s:g} s")


def lined_up(inputs: str, out: str, *flags: str, go_file: str, env: dict | None = None) -> subprocess.Popen:
    """A run started now (imports, matching) that waits just before taking the lock until
    `go_file` exists: its lock check then happens at a moment the test chooses, however
    slow the machine is to start a run."""
    run = start_index(inputs, out, *flags, env={**(env or {}), "CLIPINDEX_TEST_WAIT_AT": f"before_lock:{go_file}"})
    wait_for(lambda: os.path.exists(go_file + ".reached") or run.poll() is not None, what="run lined up")
    return run


def release(run: subprocess.Popen, go_file: str) -> tuple[int, str]:
    """Let a lined-up run go on; its exit code and stderr."""
    open(go_file, "w").close()
    _, stderr = run.communicate(timeout=300)
    return run.returncode, stderr.decode()
