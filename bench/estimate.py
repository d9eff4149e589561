"""Expected wall time and worker count for N clips and H hours, from the latest measurements.

    python -m bench.estimate --clips 38200 --hours 4600 [--fps 30] [--workers 16]
                             [--deadline-h 1] [--startup-s 180] [--efficiency 0.8]
                             [--io-s-per-clip 0]

The model (BENCHMARKS.md, "Estimating a cluster run"), per tier:

    core_s  = N * a + H * 3600 * fps * b          (CPU work of the indexing workers)
    wall_s  = startup_s + N * io_s_per_clip / W + core_s / (W * efficiency)
    W(deadline) = ceil((N * io_s_per_clip + core_s / efficiency) / (deadline_s - startup_s))

`a` (core-seconds per clip: open, probe, write its rows) and `b` (core-seconds
per frame) come from two local measurements with different frames per clip:
the throughput corpus (1-minute 30 fps clips, `bench/results/throughput-*.json`)
and the Boston-sized corpus or its series (7-minute 1 fps clips,
`bench/results/scale-*.json`), each turned into core-seconds as
(wall - start-up) x local workers (for the series: its marginal cost per
clip, the slope between its smallest and largest run, x local workers). Per
video hour at F fps that is
b x 3600 x F. W counts worker cores (vCPUs), one indexing process each.
`startup_s` is the runner's fixed cost (Dataflow worker VMs: minutes; the local
FnApiRunner: seconds). `io_s_per_clip` is the latency a worker waits per clip
that CPU time does not show (0 on local disk; a few ranged reads on GCS,
~0.05-0.2 s, worth running more processes per vCPU for).

With `--qa`, the keyframe QA (`--decode keyframes`) is added on top, from the
latest `python -m bench.visual_qa_hd` fit for `--qa-size` (or your own numbers:
`--qa-keyframe-ms`, `--qa-rest-ms-per-s`; measure your own clips with
`python -m bench.visual_qa_hd --clip YOUR.mp4 ...`):

    qa_core_s = H * 3600 * (sum over GOP lengths g of share_g / g * keyframe_s + rest_s_per_s)
    worker_hours = qa_core_s / 3600 / efficiency

`--qa-gops 1:0.5,2:0.5` says which share of the hours has which GOP length (s).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
from typing import Optional

from bench.lib.harness import RESULTS_DIR

LOCAL_STARTUP_S = 2.0  # measured: a 10-clip local run takes ~2 s (Beam import, pipeline, 2 readers)


def latest(pattern: str, results_dir: str) -> Optional[dict]:
    paths = sorted(glob.glob(os.path.join(results_dir, pattern)))
    if not paths:
        return None
    with open(paths[-1], encoding="utf-8") as handle:
        return json.load(handle)


def _core_s_per_clip(wall_s: float, clips: int, workers: int, startup_s: float) -> float:
    return max(wall_s - startup_s, 0.0) * workers / clips


def fit_costs(throughput: dict, scale: Optional[dict]) -> dict:
    """{tier: (a core-s per clip, b core-s per frame)} from the measurements."""
    workers = throughput["workers"]
    startup_s = (scale or {}).get("startup_s_estimate") or LOCAL_STARTUP_S
    clips = throughput["corpus"]["files"]
    per_tier = {}
    for row in throughput["results"]:
        if row["name"] in ("clipindex header", "clipindex packets"):
            per_tier[row["tier"]] = (_core_s_per_clip(row["wall_s"], clips, workers, startup_s),
                                     row["frames"] / clips)
    costs = {}
    header = per_tier.get("header")
    big = None
    if scale:
        big_run = max(scale["runs"], key=lambda r: r["clips"])
        frames_per_clip = big_run["frames"] / big_run["clips"]
        if scale.get("marginal_ms_per_clip"):
            # The series' slope (largest minus smallest run) needs no start-up guess.
            big = (scale["marginal_ms_per_clip"] / 1000 * scale["workers"], frames_per_clip)
        else:
            big = (_core_s_per_clip(big_run["index_wall_s"], big_run["clips"], scale["workers"], startup_s),
                   frames_per_clip)
    if header and big and abs(header[1] - big[1]) > 1:
        b = (header[0] - big[0]) / (header[1] - big[1])
        b = max(b, 0.0)
        a = max(header[0] - b * header[1], 0.0)
    elif header:
        a, b = header[0] * 0.5, header[0] * 0.5 / header[1]  # one point: split evenly (flagged)
    else:
        raise SystemExit("the throughput results hold no header-tier run")
    costs["header"] = (a, b)
    if "packets" in per_tier:
        c, frames = per_tier["packets"]
        costs["packets"] = (a, max(c - a, 0.0) / frames)
    return {"costs": costs, "startup_s_local": startup_s,
            "points": {"throughput_header": header, "scale_largest": big}}


def estimate(costs: dict, clips: int, hours: float, fps: float, workers: int, startup_s: float,
             efficiency: float, io_s_per_clip: float, deadline_s: float) -> dict:
    out = {}
    for tier, (a, b) in costs.items():
        core_s = clips * a + hours * 3600 * fps * b
        serial_s = clips * io_s_per_clip + core_s / efficiency
        wall_s = startup_s + serial_s / workers
        need = math.ceil(serial_s / (deadline_s - startup_s)) if deadline_s > startup_s else None
        out[tier] = {"core_s_per_clip": a, "core_s_per_hour": b * 3600 * fps, "core_s": round(core_s, 1),
                     "wall_s": round(wall_s, 1), "workers_for_deadline": need}
    return out


def qa_costs(results_dir: str, size: str, keyframe_ms: Optional[float],
             rest_ms_per_s: Optional[float]) -> dict:
    """CPU seconds per keyframe and per clip-second besides, measured or given."""
    fitted = ((latest("visual_qa_hd-*.json", results_dir) or {}).get("fit") or {}).get(size, {})
    keyframe_s = keyframe_ms / 1000 if keyframe_ms is not None else fitted.get("cpu_s_per_keyframe")
    rest_s = rest_ms_per_s / 1000 if rest_ms_per_s is not None else fitted.get("cpu_s_per_clip_second_besides")
    if keyframe_s is None or rest_s is None:
        raise SystemExit(f"no {size} keyframe QA measurement in {results_dir}; run ./bench/run.sh visual_qa "
                         "or give --qa-keyframe-ms and --qa-rest-ms-per-s")
    return {"cpu_s_per_keyframe": keyframe_s, "cpu_s_per_clip_second_besides": rest_s,
            "source": "given" if keyframe_ms is not None else "bench/results/visual_qa_hd-*.json"}


def qa_estimate(costs: dict, hours: float, gops: dict[float, float], workers: int, efficiency: float) -> dict:
    seconds = hours * 3600
    keyframes = sum(seconds * share / gop_s for gop_s, share in gops.items())
    core_s = keyframes * costs["cpu_s_per_keyframe"] + seconds * costs["cpu_s_per_clip_second_besides"]
    worker_hours = core_s / 3600 / efficiency
    return {"keyframes": round(keyframes), "core_hours": round(core_s / 3600, 2),
            "worker_hours": round(worker_hours, 2), "wall_h_on_workers": round(worker_hours / workers, 2)}


def _gop_mix(text: str) -> dict[float, float]:
    mix = {float(g): float(share) for g, share in (part.split(":") for part in text.split(","))}
    total = sum(mix.values())
    return {g: share / total for g, share in mix.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.estimate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, required=True)
    parser.add_argument("--hours", type=float, required=True)
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the footage (default 30)")
    parser.add_argument("--workers", type=int, default=16, help="worker vCPUs (default 16)")
    parser.add_argument("--deadline-h", type=float, default=1.0, help="size the cluster for this (default 1 h)")
    parser.add_argument("--startup-s", type=float, default=180.0,
                        help="runner start-up (Dataflow ~180 s; local: use 7)")
    parser.add_argument("--efficiency", type=float, default=0.8, help="parallel efficiency (default 0.8)")
    parser.add_argument("--io-s-per-clip", type=float, default=0.0,
                        help="I/O wait per clip not seen as CPU (0 local disk; ~0.1 GCS)")
    parser.add_argument("--results", default=RESULTS_DIR)
    parser.add_argument("--qa", action="store_true", help="add keyframe QA (--decode keyframes)")
    parser.add_argument("--qa-size", default="720p", help="which measured resolution (720p, 1080p)")
    parser.add_argument("--qa-gops", default="1:0.5,2:0.5", help="GOP length (s):share of the hours, ...")
    parser.add_argument("--qa-keyframe-ms", type=float, help="your CPU ms per keyframe (else measured)")
    parser.add_argument("--qa-rest-ms-per-s", type=float, help="your CPU ms per clip-second besides keyframes")
    args = parser.parse_args(argv)
    throughput = latest("throughput-*.json", args.results)
    if throughput is None:
        raise SystemExit(f"no throughput results in {args.results}; run ./bench/run.sh throughput first")
    scale = latest("scale-series-*.json", args.results) or latest("scale-boston-*.json", args.results)
    fit = fit_costs(throughput, scale)
    result = estimate(fit["costs"], args.clips, args.hours, args.fps, args.workers, args.startup_s,
                      args.efficiency, args.io_s_per_clip, args.deadline_h * 3600)
    print(f"{args.clips} clips, {args.hours} h at {args.fps:g} fps on {args.workers} worker vCPUs "
          f"(start-up {args.startup_s:g} s, efficiency {args.efficiency}, I/O {args.io_s_per_clip} s/clip)")
    for tier, row in result.items():
        print(f"  {tier:<8} {row['core_s_per_clip'] * 1000:6.2f} ms/clip + {row['core_s_per_hour']:6.2f} "
              f"core-s/hour -> {row['core_s'] / 3600:7.2f} core-hours, wall {row['wall_s'] / 60:7.1f} min; "
              f"{row['workers_for_deadline']} vCPUs for {args.deadline_h:g} h")
    qa = None
    if args.qa:
        costs = qa_costs(args.results, args.qa_size, args.qa_keyframe_ms, args.qa_rest_ms_per_s)
        qa = {"costs": costs, **qa_estimate(costs, args.hours, _gop_mix(args.qa_gops), args.workers,
                                             args.efficiency)}
        print(f"  keyframe QA ({args.qa_size}, GOPs {args.qa_gops}): {qa['keyframes']:,} keyframes x "
              f"{costs['cpu_s_per_keyframe'] * 1000:.2f} ms + {costs['cpu_s_per_clip_second_besides'] * 1000:.2f} "
              f"ms per video second -> {qa['core_hours']:.1f} core-hours, {qa['worker_hours']:.1f} worker-hours "
              f"at efficiency {args.efficiency}; {qa['wall_h_on_workers']:.2f} h on {args.workers} vCPUs")
    print(json.dumps({"inputs": vars(args), "fit": fit, "estimate": result, "qa": qa}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
