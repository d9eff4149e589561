"""Benchmark of what a nightly run costs when only the QA thresholds change:
`python -m bench.unattended [--clips 60] [--hours 0.5] [--decode fps:2]`.

On one corpus indexed with `--decode`, the same run with new `--qa-*` / `--dup-*`
thresholds is timed twice: as a nightly rerun on that index (QA seconds recomputed
from the stored samples, duplicates matched again, nothing decoded) and as a
fresh index with those thresholds (every clip decoded again, what each threshold
change cost before the definitions/thresholds split). Both end with the same
rows (tests/e2e/test_unattended.py checks that); the ratio is what the split saves.
Results go to bench/results/unattended-<time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys

from bench.lib.measure import load_average, machine, run_measured
from pipeline.synth import synth

NEW_THRESHOLDS = ["--qa-blur-sharpness", "400", "--qa-dark-fraction", "0.5", "--qa-frozen-change", "5",
                  "--dup-max-bits", "4"]


def _index(inputs: str, out: str, *flags: str) -> tuple[float, dict]:
    """Wall time of the whole command (start-up included) and its run.json."""
    measured = run_measured([sys.executable, "-m", "pipeline", "index", "--input", inputs, "--output", out,
                             "--quiet", *flags])
    if measured.returncode != 0:
        raise SystemExit(f"index failed: {measured.stderr.strip().splitlines()[-1:]}")
    with open(os.path.join(out, "run.json")) as handle:
        return measured.wall_s, json.load(handle)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--hours", type=float, default=0.5)
    parser.add_argument("--decode", default="fps:2")
    parser.add_argument("--work", default="bench/work/unattended")
    args = parser.parse_args(argv)

    corpus = os.path.join(args.work, f"corpus-{args.clips}-{args.hours}")
    if not os.path.exists(os.path.join(corpus, "manifest.csv")):
        synth(corpus, clips=args.clips, hours=args.hours, seed=4)
    inputs = os.path.join(corpus, "clips", "**", "*.mp4")
    decode = ["--decode", args.decode, "--hash", "none"]
    nightly, fresh = os.path.join(args.work, "nightly"), os.path.join(args.work, "fresh")
    for folder in (nightly, fresh):
        shutil.rmtree(folder, ignore_errors=True)

    first_s, _ = _index(inputs, nightly, *decode)
    recompute_s, recomputed = _index(inputs, nightly, *decode, *NEW_THRESHOLDS)
    assert recomputed["reindexed"] == 0, recomputed["reindexed"]
    decode_s, decoded = _index(inputs, fresh, *decode, *NEW_THRESHOLDS)
    # run.json wall_s: the run itself (matching to commit), without the command's start-up.
    summary = {
        "name": "unattended", "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "load_average": load_average(), "clips": args.clips, "hours": args.hours,
        "decode": args.decode, "first_index_s": round(first_s, 2),
        "thresholds_recomputed": {"command_s": round(recompute_s, 2), "run_s": recomputed["wall_s"]},
        "decoded_again": {"command_s": round(decode_s, 2), "run_s": decoded["wall_s"]},
        "run_ratio": round(decoded["wall_s"] / recomputed["wall_s"], 1),
    }
    print(f"{args.clips} clips, {args.hours} h, --decode {args.decode}: new thresholds recomputed from "
          f"samples: run {recomputed['wall_s']:.1f} s (command {recompute_s:.1f} s); decoded again: run "
          f"{decoded['wall_s']:.1f} s (command {decode_s:.1f} s); run x{summary['run_ratio']}")
    os.makedirs("bench/results", exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    with open(f"bench/results/unattended-{stamp}.json", "w") as handle:
        json.dump(summary, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
