"""Matching cost: case-insensitive globs with sidecar/hidden/--exclude accounting vs a bare walk.

    python -m bench.matching [--files 38200] [--repeat 3]

Builds a Boston-shaped tree of empty files (device/day/clip, plus one sidecar per 20
clips and one AppleDouble file per 50) in bench/work/matching-N/, then times, best of
--repeat in one run: `os.walk` listing every name (the floor), clipindex's matching as
`--case-sensitive`, and as by default (case-insensitive) with two --exclude patterns.
"""

from __future__ import annotations

import argparse
import os
import time

from transforms.launcher.find_inputs import select_inputs

WORK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "work")


def build_tree(root: str, files: int) -> None:
    if os.path.isdir(root):
        return
    for number in range(files):
        folder = os.path.join(root, f"BWC-{number % 200:04d}", f"2026-01-{number % 28 + 1:02d}")
        os.makedirs(folder, exist_ok=True)
        open(os.path.join(folder, f"GX{number:06d}.MP4"), "wb").close()
        if number % 20 == 0:
            open(os.path.join(folder, f"GX{number:06d}.json"), "wb").close()
        if number % 50 == 0:
            open(os.path.join(folder, f"._GX{number:06d}.MP4"), "wb").close()


def best_of(repeat: int, work) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = work()
        best = min(best, time.perf_counter() - started)
    return best, count


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.matching", description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=38200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    root = os.path.join(WORK, f"matching-{args.files}")
    build_tree(root, args.files)
    pattern = os.path.join(root, "**", "*.mp4")
    runs = {
        "os.walk (floor)": lambda: sum(len(names) for _, _, names in os.walk(root)),
        "--case-sensitive '**/*.MP4'":
            lambda: len(select_inputs([pattern[:-4] + ".MP4"], case_sensitive=True).files),
        "default '**/*.mp4' + 2 --exclude":
            lambda: len(select_inputs([pattern], excludes=["*.tmp", "**/proxy/**"]).files),
        "default '**' (sidecars skipped)": lambda: len(select_inputs([os.path.join(root, "**")]).files),
    }
    floor = None
    for name, work in runs.items():
        seconds, count = best_of(args.repeat, work)
        floor = floor or seconds
        print(f"{name:<36} {seconds:6.3f} s  {count:>6} names  {seconds / floor:4.1f}x the walk")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
