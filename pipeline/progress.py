"""A live progress line for local runs: clips done / matched, hours, rate, ETA."""

from __future__ import annotations

import json
import os
import sys
import threading
import time


def read_progress(folder: str) -> tuple[int, int, float]:
    done = errors = 0
    duration_s = 0.0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0, 0, 0.0
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as handle:
                part = json.load(handle)
        except (OSError, ValueError):
            continue
        done += part["done"]
        errors += part["errors"]
        duration_s += part["duration_s"]
    return done, errors, duration_s


class ProgressPrinter:
    """Prints a line every `every_s` seconds from a background thread."""

    def __init__(self, folder: str, total: int, every_s: float = 5.0, stream=sys.stderr):
        self._folder, self._total, self._every_s, self._stream = folder, total, every_s, stream
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> "ProgressPrinter":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def line(self) -> str:
        done, errors, duration_s = read_progress(self._folder)
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = done / elapsed
        eta = f", ETA {(self._total - done) / rate:.0f} s" if rate > 0 and done < self._total else ""
        percent = 100.0 * done / self._total if self._total else 100.0
        return (f"progress: {done}/{self._total} clips ({percent:.0f}%), {duration_s / 3600:.2f} h indexed, "
                f"{errors} errors, {rate:.1f} clips/s{eta}")

    def _loop(self) -> None:
        while not self._stop.wait(self._every_s):
            self._stream.write(self.line() + "\n")
            self._stream.flush()
