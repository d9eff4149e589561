"""Fuzz the indexer: damaged clips through the isolated worker, invariant checked.

    python tools/fuzz.py --seed 7 --count 5000 [--start 0] [--keep DIR]

Each case is one mutated clip (`tools.mutate`), indexed by the same supervised
child process the pipeline uses, so a native crash in FFmpeg becomes a `crash`
row instead of killing the fuzzer. A case fails when the result breaks the
contract: not exactly one ClipRecord or ErrorRecord, an unknown error kind, a
frames batch whose row count differs from the clip's frame_count, or any
`crash` / `internal` row (a crash is survivable, but worth a regression case).
Exit 0 when every case holds and none crashed, 1 otherwise; `--keep` saves
the offending inputs (rebuildable anyway from seed and case number).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from typing import Optional

if __package__ in (None, ""):  # run as a script: the repo's packages, here and in the worker child
    _REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, _REPO)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [_REPO, os.environ.get("PYTHONPATH")]))

from schemas import ERROR_KINDS, ClipRecord, ErrorRecord, FileInfo, IndexConfig  # noqa: E402
from tools.mutate import cases, seed_clips  # noqa: E402
from transforms.clip.index_clip import IndexedClip  # noqa: E402
from transforms.isolation.pool import IsolatedIndexer  # noqa: E402

# Kinds that mean the indexer itself misbehaved, not just that the input was bad.
SUSPECT_KINDS = ("crash", "internal", "timeout")


def contract_problem(result) -> Optional[str]:
    """Why `result` breaks the one-row-per-input contract, or None when it holds."""
    if isinstance(result, ErrorRecord):
        if result.error_kind not in ERROR_KINDS:
            return f"unknown error kind {result.error_kind!r}"
        return None
    if not (isinstance(result, IndexedClip) and isinstance(result.clip, ClipRecord)):
        return f"not an IndexedClip or ErrorRecord: {type(result).__name__}"
    clip, frames = result.clip, result.frames
    if frames.num_rows != clip.frame_count:
        return f"frame_count {clip.frame_count} but {frames.num_rows} frame rows"
    if clip.frame_count < 1 or clip.width < 1 or clip.height < 1:
        return f"a clip with {clip.frame_count} frames of {clip.width}x{clip.height}"
    return None


def outcome(result) -> str:
    return f"error:{result.error_kind}" if isinstance(result, ErrorRecord) else "clip"


@dataclasses.dataclass
class FuzzReport:
    counts: collections.Counter          # outcome -> cases ("clip", "error:corrupt", ...)
    broken: list[str]                    # cases that break the contract
    suspects: list[str]                  # crash / internal / timeout rows (contract holds)
    wall_s: float
    slowest_case_s: float


def run(seed: int, count: int, start: int = 0, keep: Optional[str] = None,
        clip_timeout_s: float = 10.0, quiet: bool = False) -> FuzzReport:
    """Index `count` cases through the isolated worker and check each result."""
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="clipindex-fuzz-")
    config = IndexConfig(hash="sha256", isolation="process", clip_timeout_s=clip_timeout_s)
    indexer = IsolatedIndexer(config)
    report = FuzzReport(collections.Counter(), [], [], 0.0, 0.0)
    try:
        seeds = seed_clips(os.path.join(workdir, "seeds"))
        path = os.path.join(workdir, "case.bin")
        for case, data, recipe in cases(seeds, seed, count, start):
            with open(path, "wb") as handle:
                handle.write(data)
            case_started = time.monotonic()
            result = indexer.index(FileInfo(path, len(data), None))
            report.slowest_case_s = max(report.slowest_case_s, time.monotonic() - case_started)
            report.counts[outcome(result)] += 1
            problem = contract_problem(result)
            where = f"seed {seed} case {case} ({recipe})"
            if problem is not None:
                report.broken.append(f"{where}: {problem}")
            elif isinstance(result, ErrorRecord) and result.error_kind in SUSPECT_KINDS:
                report.suspects.append(f"{where}: {result.error_kind}: {result.message}")
            else:
                continue
            if keep:
                os.makedirs(keep, exist_ok=True)
                shutil.copyfile(path, os.path.join(keep, f"seed{seed}-case{case}.bin"))
            if not quiet:
                print((report.broken + report.suspects)[-1], file=sys.stderr, flush=True)
    finally:
        indexer.close()
        shutil.rmtree(workdir, ignore_errors=True)
    report.wall_s = time.monotonic() - started
    return report


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="fuzz run seed (default: 0)")
    parser.add_argument("--count", type=int, default=1000, help="cases to run (default: 1000)")
    parser.add_argument("--start", type=int, default=0, help="first case number (default: 0)")
    parser.add_argument("--keep", metavar="DIR", help="copy offending inputs here")
    parser.add_argument("--clip-timeout-s", type=float, default=10.0, help="budget per case (default: 10)")
    args = parser.parse_args(argv)
    report = run(args.seed, args.count, args.start, args.keep, args.clip_timeout_s)
    summary = ", ".join(f"{name} {n}" for name, n in sorted(report.counts.items()))
    print(f"fuzz seed {args.seed}: {args.count} cases in {report.wall_s:.1f} s, slowest "
          f"{report.slowest_case_s:.2f} s ({summary}); {len(report.broken)} broke the contract, "
          f"{len(report.suspects)} crash/internal/timeout")
    return 1 if report.broken or report.suspects else 0


if __name__ == "__main__":
    sys.exit(main())
