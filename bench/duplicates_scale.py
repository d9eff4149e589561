"""Near-duplicates at archive scale (issue 15): `python -m bench.duplicates_scale`.

1. synth a Boston-sized archive (38,200 clips, 4,600 h at 1 fps, 64x48) and plant
   copies of clips among its first --small clips: --copies re-encoded smaller
   (48x36) and --excerpts trimmed (60-120 s, starting between keyframes);
2. night 1: `clipindex index --decode keyframes` over everything, measured
   (wall, peak RSS of the launcher, of the largest worker, of the whole tree);
3. recall and false pairs from the clips table; Hamming distances at the best
   alignment for copies vs distinct clips (bench/lib/duplicates_stats.py);
4. the same planted set among only the first --small clips (a manifest):
   recall must not change with the archive's size;
5. night 2: --night-clips new clips, --night-copies of them copies of old
   clips; only those are read and compared.

    python -m bench.duplicates_scale --work /work/scratch/i15 [--clips 38200 --hours 4600]

Results: bench/results/duplicates-<stamp>.json. The corpus stays in --work
(reused when its parameters match) unless --delete-corpus.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import json
import os
import random
import shutil
import sys
import time

from bench.lib.duplicates_stats import distance_stats, evidence_summary, recall
from bench.lib.measure import load_average, machine, run_measured
from bench.lib.harness import REPO, RESULTS_DIR, WORK_DIR, env
from bench.lib.tables import read_index_table
from pipeline.synth import Reencode, Trim, excerpt_relpath_of, plan_corpus, reencoded_relpath, synth
from pipeline.synth.copies import write_excerpt, write_reencoded
from schemas import QaOptions

FPS, SIZE, COPY_SIZE, COPY_BITS = 1, "64x48", "48x36", 20_000


def planted_set(plans, small: int, copies: int, excerpts: int, seed: int):
    """Re-encodes and trims of distinct clips among the first `small` (excerpts: 60-120 s fits)."""
    rng = random.Random(seed)
    numbers = rng.sample(range(small), small)
    long_enough = [n for n in numbers if plans[n].frame_count / FPS >= 200]
    trims = []
    for number in long_enough[:excerpts]:
        seconds = rng.randint(60, 120)
        start = rng.randint(1, int(plans[number].frame_count / FPS) - seconds - 1)
        trims.append(Trim(number, float(start), float(seconds)))
    trimmed = {t.clip for t in trims}
    reencodes = [Reencode(n, COPY_SIZE, COPY_BITS) for n in numbers if n not in trimmed][:copies]
    return reencodes, trims


def make_corpus(args) -> dict:
    corpus = os.path.join(args.work, "archive")
    params = {"clips": args.clips, "hours": args.hours, "fps": FPS, "size": SIZE, "small": args.small,
              "copies": args.copies, "excerpts": args.excerpts, "seed": args.seed}
    stamp = os.path.join(corpus, "bench-params.json")
    plans = plan_corpus(args.clips, args.hours, FPS, args.seed, (64, 48))
    reencodes, trims = planted_set(plans, args.small, args.copies, args.excerpts, args.seed)
    shutil.rmtree(os.path.join(corpus, "clips", "night2"), ignore_errors=True)
    timing = {}
    if not (os.path.exists(stamp) and json.load(open(stamp, encoding="utf-8")) == params):
        shutil.rmtree(corpus, ignore_errors=True)
        started = time.perf_counter()
        marks = {}

        def progress(done: int, total: int) -> None:
            if done == 1:
                marks["first_clip"] = time.perf_counter()
            if done == total:
                marks["clips_done"] = time.perf_counter()

        synth(corpus, args.clips, args.hours, fps=FPS, size=SIZE, seed=args.seed, progress=progress,
              reencode=reencodes, trims=trims)
        done = time.perf_counter()
        clips_s = marks["clips_done"] - started
        timing = {"synth_pool_s": round(marks["first_clip"] - started, 1), "synth_clips_s": round(clips_s, 1),
                  "synth_hours_per_min": round(args.hours / clips_s * 60, 1),
                  "copies_s": round(done - marks["clips_done"], 1)}
        with open(stamp, "w", encoding="utf-8") as handle:
            json.dump(params, handle)
    expected = {}
    for copy in reencodes:
        expected[os.path.join(corpus, reencoded_relpath(plans[copy.clip]))] = (
            "duplicate", os.path.join(corpus, plans[copy.clip].relpath), None)
    for trim in trims:
        expected[os.path.join(corpus, excerpt_relpath_of(plans[trim.clip]))] = (
            "excerpt", os.path.join(corpus, plans[trim.clip].relpath), trim.start_s)
    return {"corpus": corpus, "plans": plans, "expected": expected, "timing": timing, "params": params}


def index(name: str, source: list[str], out: str, args, fresh: bool = True) -> dict:
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
    measured = run_measured([sys.executable, "-m", "pipeline", "index", *source, "--output", out,
                             "--decode", "keyframes", "--workers", str(args.workers), "--quiet"],
                            env=env(), cwd=REPO)
    if measured.returncode != 0:
        raise SystemExit(f"{name}: index failed: {measured.stderr.strip()[-3000:]}")
    with open(os.path.join(out, "run.json"), encoding="utf-8") as handle:
        run = json.load(handle)
    row = {"name": name, "indexed": run["indexed"], "reindexed": run["reindexed"],
           "carried_forward": run["carried_forward"], "hours": round(run["total_hours"], 3),
           "wall_s": round(measured.wall_s, 1), "run_wall_s": run["wall_s"], "cpu_s": round(measured.cpu_s, 1),
           "launcher_peak_rss_mib": round(measured.peak_root_rss_bytes / 2**20),
           "worker_peak_rss_mib": round(measured.peak_child_rss_bytes / 2**20),
           "tree_peak_rss_mib": round(measured.peak_rss_bytes / 2**20),
           "matching_stats": run.get("matching_stats"), "load_average": load_average()}
    print(f"{name:<10} {row['indexed']} clips ({row['reindexed']} read) {row['wall_s']} s, launcher "
          f"{row['launcher_peak_rss_mib']} MiB, worker {row['worker_peak_rss_mib']} MiB, tree "
          f"{row['tree_peak_rss_mib']} MiB, {row['matching_stats']}", file=sys.stderr, flush=True)
    return row


def clips_rows(out: str) -> list[dict]:
    return read_index_table(out, "clips", ["clip_id", "uri", "duplicate_of", "excerpt_of",
                                           "excerpt_offset_s"]).to_pylist()


def small_manifest(corpus: dict, small: int, path: str) -> None:
    with open(os.path.join(corpus["corpus"], "manifest.csv"), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:small]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uri"])
        writer.writerows([[r["uri"]] for r in rows] + [[uri] for uri in corpus["expected"]])


def night_two(corpus: dict, args) -> dict:
    """New clips: copies of old clips (not planted before) and fresh footage of another seed."""
    folder = os.path.join(corpus["corpus"], "clips", "night2")
    os.makedirs(folder)
    plans, planted = corpus["plans"], {os.path.basename(o[1]) for o in corpus["expected"].values()}
    rng = random.Random(args.seed + 2)
    old = [n for n in rng.sample(range(args.small, args.clips), min(200, args.clips - args.small))
           if os.path.basename(plans[n].relpath) not in planted and plans[n].frame_count >= 200][:args.night_copies]
    expected = {}
    for k, number in enumerate(old):
        source = os.path.join(corpus["corpus"], plans[number].relpath)
        target = os.path.join(folder, f"night-copy-{k}.mp4")
        if k % 2:
            write_excerpt(source, target, FPS, 33.0, 80.0)
            expected[target] = ("excerpt", source, 33.0)
        else:
            write_reencoded(source, target, FPS, COPY_SIZE, COPY_BITS)
            expected[target] = ("duplicate", source, None)
    fresh_dir = os.path.join(args.work, "night2-fresh")
    shutil.rmtree(fresh_dir, ignore_errors=True)
    fresh = args.night_clips - len(old)
    for plan in synth(fresh_dir, fresh, fresh * 400 / 3600, fps=FPS, size=SIZE, seed=args.seed + 1):
        shutil.move(os.path.join(fresh_dir, plan.relpath), os.path.join(folder, os.path.basename(plan.relpath)))
    shutil.rmtree(fresh_dir, ignore_errors=True)
    return expected


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.duplicates_scale", description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=38200)
    parser.add_argument("--hours", type=float, default=4600.0)
    parser.add_argument("--small", type=int, default=3800, help="clips of the smaller archive (same planted set)")
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--excerpts", type=int, default=50)
    parser.add_argument("--night-clips", type=int, default=20)
    parser.add_argument("--night-copies", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--work", default=os.path.join(WORK_DIR, "duplicates"))
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument("--delete-corpus", action="store_true")
    parser.add_argument("--results", default=RESULTS_DIR)
    args = parser.parse_args(argv)
    load_before = load_average()
    corpus = make_corpus(args)
    qa = QaOptions()
    pattern = os.path.join(corpus["corpus"], "clips", "**", "*.mp4")
    big_out = os.path.join(args.work, "index-big")
    runs = [index("night1", ["--input", pattern], big_out, args)]
    found_big = recall(clips_rows(big_out), corpus["expected"])
    stats = distance_stats(big_out, corpus["expected"], qa)
    evidence_big = evidence_summary(big_out)
    sizes = [{"clips": args.clips, **found_big, "candidate_pairs": evidence_big["candidate_pairs"]}]
    if not args.skip_small:
        manifest = os.path.join(args.work, "small-manifest.csv")
        small_manifest(corpus, args.small, manifest)
        small_out = os.path.join(args.work, "index-small")
        runs.append(index("small", ["--manifest", manifest], small_out, args))
        found_small = recall(clips_rows(small_out), corpus["expected"])
        sizes.insert(0, {"clips": args.small, **found_small,
                         "candidate_pairs": evidence_summary(small_out)["candidate_pairs"]})
        shutil.rmtree(small_out, ignore_errors=True)
    night_expected = night_two(corpus, args)
    runs.append(index("night2", ["--input", pattern], big_out, args, fresh=False))
    # Ids as the index gave them (relative to its archive root), not recomputed here.
    night_folder = os.path.join(corpus["corpus"], "clips", "night2") + os.sep
    new_ids = {row["clip_id"] for row in clips_rows(big_out) if row["uri"].startswith(night_folder)}
    found_night = recall(clips_rows(big_out), {**corpus["expected"], **night_expected})
    found_night["found_tonight"] = sum(1 for uri in found_night.pop("found_uris") if uri in night_expected)
    for found in sizes:
        found.pop("found_uris", None)
    result = {"kind": "duplicates", "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "load_average_before": load_before, "load_average_after": load_average(),
              "params": corpus["params"], "synth": corpus["timing"], "runs": runs, "recall_by_size": sizes,
              "night2": {**found_night, **evidence_summary(big_out, new_ids), "planted_tonight": len(night_expected)},
              "distances": stats, "qa": dataclasses.asdict(qa)}
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, f"duplicates-{dt.datetime.now():%Y%m%dT%H%M%S}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2, default=str)
    print(json.dumps({"recall_by_size": [{k: s[k] for k in ("clips", "planted", "found", "false_pairs")}
                                         for s in sizes],
                      "night2": {k: result["night2"][k] for k in ("found_tonight", "planted_tonight", "false_pairs",
                                                                  "candidate_pairs", "pairs_without_a_new_clip")}}))
    print(f"wrote {path}", file=sys.stderr)
    if args.delete_corpus:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
