"""Measuring a command honestly: wall time and the peak memory of its whole process tree.

`ru_maxrss` of RUSAGE_CHILDREN is the peak of the largest single child, not
of the tree at one moment, so it under-reports a launcher with worker
processes. `TreeSampler` instead reads /proc every `interval_s` and sums the
resident set (RSS) of the root process and all its descendants; the peak of
that sum is what the machine had to hold. RSS counts shared pages (libraries,
copy-on-write) once per process, so the sum is an upper bound; the
proportional set size (PSS, shared pages divided among their users) is
recorded beside it.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from typing import Optional, Sequence

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: str) -> Optional[list[str]]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from "state" (field 3) on


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def process_tree(root_pid: int) -> list[tuple[int, int]]:
    """(pid, rss_bytes) of root_pid and all its descendants, from /proc."""
    parent_of: dict[int, int] = {}
    rss_of: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(name)
        if fields is None:
            continue
        pid = int(name)
        parent_of[pid] = int(fields[1])
        rss_of[pid] = int(fields[21]) * PAGE_BYTES
    children: dict[int, list[int]] = {}
    for pid, ppid in parent_of.items():
        children.setdefault(ppid, []).append(pid)
    tree, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        if pid in rss_of:
            tree.append((pid, rss_of[pid]))
        todo.extend(children.get(pid, ()))
    return tree


class TreeSampler(threading.Thread):
    """Peak summed RSS/PSS and peak process count of a process tree, sampled every interval_s."""

    def __init__(self, root_pid: int, interval_s: float = 0.2, pss: bool = True):
        super().__init__(daemon=True)
        self.root_pid, self.interval_s, self.pss = root_pid, interval_s, pss
        self.peak_rss_bytes = self.peak_pss_bytes = self.peak_processes = self.samples = 0
        # The root alone (the launcher) and the largest single descendant (a worker process).
        self.peak_root_rss_bytes = self.peak_child_rss_bytes = 0
        self._stop_event = threading.Event()

    def sample(self) -> None:
        tree = process_tree(self.root_pid)
        if not tree:
            return
        self.samples += 1
        self.peak_rss_bytes = max(self.peak_rss_bytes, sum(rss for _, rss in tree))
        self.peak_processes = max(self.peak_processes, len(tree))
        for pid, rss in tree:
            if pid == self.root_pid:
                self.peak_root_rss_bytes = max(self.peak_root_rss_bytes, rss)
            else:
                self.peak_child_rss_bytes = max(self.peak_child_rss_bytes, rss)
        if self.pss:
            self.peak_pss_bytes = max(self.peak_pss_bytes, sum(_pss_bytes(pid) for pid, _ in tree))

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval_s)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@dataclasses.dataclass
class Measured:
    argv: list[str]
    returncode: int
    wall_s: float
    peak_rss_bytes: int
    peak_pss_bytes: int
    peak_processes: int
    cpu_s: float          # user + system CPU of the tree's reaped processes
    stdout: str
    stderr: str
    peak_root_rss_bytes: int = 0   # the launched process alone
    peak_child_rss_bytes: int = 0  # its largest descendant at any moment


def run_measured(argv: Sequence[str], env: Optional[dict] = None, cwd: Optional[str] = None,
                 interval_s: float = 0.2, timeout_s: Optional[float] = None) -> Measured:
    """Run argv, timing it and sampling its process tree's memory."""
    before = os.times()
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=cwd)
    sampler = TreeSampler(proc.pid, interval_s)
    sampler.start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sampler.stop()
    wall_s = time.perf_counter() - started
    after = os.times()
    cpu_s = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return Measured(list(argv), proc.returncode, wall_s, sampler.peak_rss_bytes, sampler.peak_pss_bytes,
                    sampler.peak_processes, cpu_s, stdout, stderr, sampler.peak_root_rss_bytes,
                    sampler.peak_child_rss_bytes)


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_bytes() -> int:
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _ffprobe_version() -> Optional[str]:
    if not shutil.which("ffprobe"):
        return None
    out = subprocess.run(["ffprobe", "-version"], capture_output=True, text=True).stdout
    return out.split("\n", 1)[0].split(" Copyright")[0]


def machine() -> dict:
    import apache_beam
    import av
    import numpy
    import pyarrow

    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_bytes": _mem_total_bytes(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {"apache_beam": apache_beam.__version__, "av": av.__version__,
                     "ffmpeg_libs": av.ffmpeg_version_info, "pyarrow": pyarrow.__version__,
                     "numpy": numpy.__version__, "ffprobe_cli": _ffprobe_version()},
        "executable": sys.executable,
    }
