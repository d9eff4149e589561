"""The lease lock: stale locks of dead runs on other hosts are broken, live ones never,
and a run that lost its lease commits nothing."""

import json
import os
import signal
import socket
import time

import pytest

from tests.support.runs import REPO, run_cli
from tests.support.locks import lined_up, other_host, release, start_index, wait_for
from tests.support.index_compare import assert_same_index
from transforms.storage.lock.store import LocalLockStore
from transforms.storage.lock.lease import LockHeld, LockLost, RunLease, holder_gone, this_host
from tests.support.tables import read_table as read_index_table
from tests.support.tables import run_folders

OTHER_HOST = "evicted-pod-7f9c"


def _age_lock(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


# --- the lock itself, on a real folder -------------------------------------------------------

def test_second_holder_refused_then_taken_after_release(tmp_path):
    with RunLease(str(tmp_path), 600) as first:
        with pytest.raises(LockHeld, match=r"another clipindex run holds .* renewed [0-9.]+ s ago, lease 600 s"):
            RunLease(str(tmp_path), 600).__enter__()
        first.check()
    assert not (tmp_path / ".lock").exists()
    with RunLease(str(tmp_path), 600) as again:
        assert again.broke_stale_lock is None


def test_stale_lock_of_another_host_is_broken_fresh_one_is_not(tmp_path):
    lock = tmp_path / ".lock"
    holder = {"token": "t", "pid": 4242, "host": OTHER_HOST, "boot_id": "b", "pid_ns": 1,
              "since": "2026-01-01T00:00:00+00:00", "lease_s": 5}
    lock.write_text(json.dumps(holder))
    _age_lock(lock, 3)  # renewed 3 s ago: within its 5 s lease
    with pytest.raises(LockHeld, match=OTHER_HOST):
        RunLease(str(tmp_path), 1).__enter__()  # a shorter lease of our own does not matter
    _age_lock(lock, 6)
    with RunLease(str(tmp_path), 5) as lease:
        broke = lease.broke_stale_lock
        assert broke["holder"]["host"] == OTHER_HOST and "token" not in broke["holder"]
        assert broke["reason"].startswith("not renewed for 6.")
    assert not lock.exists() and not list(tmp_path.iterdir())  # no probe or aside file left


def test_dead_process_on_this_host_is_broken_at_once(tmp_path):
    here = this_host()
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    holder = {"token": "t", "pid": child, **here, "since": "x", "lease_s": 600}
    assert holder_gone(holder, here)
    assert not holder_gone({**holder, "pid": os.getpid()}, here)
    assert not holder_gone({**holder, "host": OTHER_HOST}, here)  # another host: the lease decides
    (tmp_path / ".lock").write_text(json.dumps(holder))
    with RunLease(str(tmp_path), 600) as lease:
        assert "is gone from this host" in lease.broke_stale_lock["reason"]


def test_renewal_keeps_a_live_lock_fresh_for_several_leases(tmp_path):
    with RunLease(str(tmp_path), 1):
        for _ in range(8):  # 4 leases
            time.sleep(0.5)
            with pytest.raises(LockHeld):
                RunLease(str(tmp_path), 1).__enter__()
            assert time.time() - (tmp_path / ".lock").stat().st_mtime < 1


def test_lost_lock_fails_the_check_and_is_never_released(tmp_path):
    lease = RunLease(str(tmp_path), 600).__enter__()
    lease._stop.set()  # as if paused: no renewals
    (tmp_path / ".lock").unlink()
    with RunLease(str(tmp_path), 600) as newer:  # another run took over
        with pytest.raises(LockLost, match="now held by pid"):
            lease.check()
        with pytest.raises(LockLost):
            lease.__exit__(RuntimeError, RuntimeError("late"), None)
        assert json.loads((tmp_path / ".lock").read_text())["token"] == newer.token  # still there


def test_release_never_deletes_a_lock_that_replaced_ours(tmp_path):
    store = LocalLockStore(str(tmp_path / ".lock"))
    ours = store.create(b'{"token": "ours"}')
    (tmp_path / ".lock").unlink()
    theirs = store.create(b'{"token": "theirs"}')
    assert store.renew(ours, "ours", b"") is None
    assert not store.remove(ours, "ours")
    assert store.read().token == "theirs" and store.read().version == theirs
    assert store.remove(theirs, "theirs") and store.read() is None


def test_replacing_a_stale_lock_that_was_renewed_meanwhile_puts_it_back(tmp_path):
    store = LocalLockStore(str(tmp_path / ".lock"))
    version = store.create(b'{"token": "slow"}')
    _age_lock(tmp_path / ".lock", 100)
    judged = store.read()
    assert store.renew(version, "slow", b"") == version  # the holder renews after being judged
    assert store.replace_stale(judged, b'{"token": "breaker"}') is None
    assert store.read().token == "slow"


# --- whole runs: another host, SIGKILL, SIGSTOP ------------------------------------------------

def _clips(corpus):
    return str(corpus / "clips/**/*.mp4")


def _run_json(out):
    return json.loads((out / "run.json").read_text())


def test_killed_run_of_another_host_blocks_until_its_lease_expires(corpus_copy, tmp_path):
    out = tmp_path / "O"
    full = run_cli("index", "--input", _clips(corpus_copy), "--output", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    run = start_index(_clips(corpus_copy), str(out), "--lock-lease-s", "5", "--clip-timeout-s", "600",
                      env={"CLIPINDEX_TEST_HANG_ON": "clip-000005"}, host=OTHER_HOST)
    go = str(tmp_path / "go")
    try:
        wait_for(lambda: (out / ".lock").exists() and (out / "_work").exists(), what="run started")
        next_run = lined_up(_clips(corpus_copy), str(out), "--lock-lease-s", "5", go_file=go)
        assert json.loads((out / ".lock").read_text())["host"] == OTHER_HOST
        taken_at = (out / ".lock").stat().st_mtime
        wait_for(lambda: (out / ".lock").stat().st_mtime > taken_at, what="a renewal")  # every 5/3 s
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the pod is evicted: nothing of it runs any more
        run.wait()

    code, stderr = release(next_run, go)  # the next run checks the lock now, 0-2 s into the lease
    assert code == 2, stderr
    assert stderr.count("\n") == 1 and f"on host {OTHER_HOST}" in stderr
    expiry = (out / ".lock").stat().st_mtime + 5
    time.sleep(max(0.0, expiry - time.time()) + 0.5)

    taken = run_cli("index", "--input", _clips(corpus_copy), "--output", str(out), "--lock-lease-s", "5")
    assert taken.returncode == 0, taken.stderr
    assert f"broke the stale lock {out}/.lock of pid" in taken.stderr and OTHER_HOST in taken.stderr
    broke = _run_json(out)["broke_stale_lock"]
    assert broke["holder"]["host"] == OTHER_HOST and broke["reason"].startswith("not renewed for")
    assert not (out / ".lock").exists()
    assert_same_index(out, tmp_path / "full")


def test_live_run_of_another_host_keeps_its_lock(corpus_copy, tmp_path):
    out = tmp_path / "O"
    run = start_index(_clips(corpus_copy), str(out), "--lock-lease-s", "1", "--clip-timeout-s", "600",
                      env={"CLIPINDEX_TEST_HANG_ON": "clip-000005"}, host=OTHER_HOST)
    try:
        wait_for(lambda: (out / ".lock").exists(), what="lock taken")
        for _ in range(10):  # 5 leases, checked as the next run would
            time.sleep(0.5)
            with pytest.raises(LockHeld, match=OTHER_HOST):
                RunLease(str(out), 1).__enter__()
        assert run.poll() is None
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()


def test_run_paused_past_its_lease_commits_nothing(corpus_copy, tmp_path):
    out = tmp_path / "O"
    paused = start_index(_clips(corpus_copy), str(out), "--lock-lease-s", "2",
                         env={"CLIPINDEX_TEST_SLEEP_AT": "after_pipeline:6"}, host=OTHER_HOST)
    try:
        def pipeline_done():
            return bool(list((out / "clips").glob("*/*.parquet")))  # the run's files, not yet committed
        wait_for(pipeline_done, what="pipeline finished")
        os.killpg(paused.pid, signal.SIGSTOP)  # e.g. a VM suspended, a debugger, swap storm
        time.sleep(3.5)  # past its 2 s lease
        newer = run_cli("index", "--input", _clips(corpus_copy), "--output", str(out), "--lock-lease-s", "2")
        assert newer.returncode == 0, newer.stderr
        assert "broke the stale lock" in newer.stderr
        newer_run = _run_json(out)
    finally:
        os.killpg(paused.pid, signal.SIGCONT)
    _, stderr = paused.communicate(timeout=120)
    assert paused.returncode == 1, stderr
    last = stderr.decode().strip().splitlines()[-1]
    assert last.startswith("clipindex: run failed, nothing committed: this run lost its lock"), last
    assert _run_json(out)["run_id"] == newer_run["run_id"]  # the newer run's commit stands
    assert run_folders(out, "clips") == {newer_run["run_id"]}
    assert read_index_table(out, "clips").num_rows == 12
    assert not (out / ".lock").exists()


def test_other_host_prefix_sets_the_host_name():
    prefix, env = other_host(OTHER_HOST)
    import subprocess
    import sys

    code = "import sys; from transforms.storage.lock.lease import this_host; sys.stdout.write(this_host()['host'])"
    shown = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, **env}, cwd=REPO)
    assert shown.stdout == OTHER_HOST and socket.gethostname() != OTHER_HOST
