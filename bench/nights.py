"""Two nights on one index: what the second night writes, and what it leaves alone (issue 24).

    python -m bench.nights                        # the Boston corpus (38,200 clips, 1 fps), then 105 more
    python -m bench.nights --compare-repo DIR     # the same two nights with another checkout's code
                                                  # (e.g. `git archive main`: the layout before Delta)
    python -m bench.nights --corpus DIR           # a Boston corpus made elsewhere (read only)

Night 1 indexes the corpus; night 2 indexes it again with `--extra-clips` new clips of the same
shape (Boston's daily rate is ~105) in a folder beside it. For each checkout, one run each:
both nights' wall and CPU time (bench/lib/measure.py), and for night 2 every file the index
folder holds afterwards that did not exist before it (by inode: a hard link of a carried file
is not a write), summed by kind (table data, Delta log, the rest), the night-1 frame files
left exactly as they were (inode, size, mtime), and, in the Delta layout, the span of the
night's table commits (the commitInfo timestamps of its log entries up to DIR/run.json).
Results: bench/results/nights-<stamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys

from bench.lib.harness import REPO, RESULTS_DIR, WORK_DIR, ensure_corpus, env
from bench.lib.measure import load_average, machine, run_measured
from bench.scale import BOSTON

TABLES = ("clips", "frames", "samples", "errors", "matches")


def _files(out_dir: str) -> dict[str, os.stat_result]:
    found = {}
    for top, _, names in os.walk(out_dir):
        for name in names:
            path = os.path.join(top, name)
            if not os.path.islink(path):
                found[os.path.relpath(path, out_dir)] = os.stat(path)
    return found


def _kind(relative: str) -> str:
    parts = relative.split(os.sep)
    if "_delta_log" in parts:
        return "delta_log"
    if relative.endswith(".parquet"):
        return "table_data"
    return "other"


def _identity(stat: os.stat_result) -> tuple:
    # The inode with its mtime: a file deleted during night 2 frees its inode for a new one.
    return stat.st_ino, stat.st_mtime_ns


def _written(before: dict, after: dict) -> dict:
    """Bytes of the files night 2 wrote: those that are no file of before (a hard link is not)."""
    old = {_identity(stat) for stat in before.values()}
    totals: dict = {"files": 0, "bytes": 0, "by_kind": {}}
    for relative, stat in after.items():
        if _identity(stat) in old:
            continue
        kind = totals["by_kind"].setdefault(_kind(relative), {"files": 0, "bytes": 0})
        kind["files"] += 1
        kind["bytes"] += stat.st_size
        totals["files"] += 1
        totals["bytes"] += stat.st_size
    return totals


def _night1_frames_untouched(before: dict, after: dict) -> dict:
    frames = {rel: stat for rel, stat in before.items() if _kind(rel) == "table_data"
              and ("frames" in rel.split(os.sep)) and not os.path.basename(rel).startswith(".")}
    same = sum(1 for rel, stat in frames.items() if rel in after and
               (after[rel].st_ino, after[rel].st_size, after[rel].st_mtime_ns)
               == (stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return {"files": len(frames), "unchanged": same, "bytes": sum(s.st_size for s in frames.values())}


def _commit_span(out_dir: str, run: dict) -> dict:
    """Delta layout only: first to last commitInfo timestamp of the night's table commits, and
    from the last one to DIR/run.json (the commit point of clipindex's readers)."""
    versions = run.get("tables")
    if not versions:
        return {}
    stamps_ms = []
    for table, version in versions.items():
        path = os.path.join(out_dir, table, "_delta_log", f"{version:020d}.json")
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                action = json.loads(line)
                if "commitInfo" in action:
                    stamps_ms.append(action["commitInfo"]["timestamp"])
    run_json_ms = os.stat(os.path.join(out_dir, "run.json")).st_mtime * 1000
    return {"tables_span_s": round((max(stamps_ms) - min(stamps_ms)) / 1000, 3),
            "to_run_json_s": round((run_json_ms - max(stamps_ms)) / 1000, 3)}


def _new_clips(folder: str, clips: int, hours: float) -> None:
    """Clips of the corpus's shape from another seed (the same seed would make byte-identical
    copies of the corpus's first clips: duplicates, which night 2 would mark)."""
    if os.path.exists(os.path.join(folder, "manifest.csv")):
        return
    done = run_measured([sys.executable, "-m", "pipeline", "synth", folder, "--clips", str(clips), "--hours",
                         str(hours), "--fps", str(BOSTON["fps"]), "--size", BOSTON["size"], "--seed", "105"],
                        env=env(), cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"synth failed: {done.stderr.strip()[-2000:]}")


def _index(repo: str, inputs: list[str], root: str, out_dir: str, args) -> dict:
    command = [sys.executable, "-m", "pipeline", "index", *[x for i in inputs for x in ("--input", i)],
               "--archive-root", root, "--output", out_dir, "--tier", args.tier, "--hash", args.hash,
               "--workers", str(args.workers), "--quiet"]
    measured = run_measured(command, env=env(repo), cwd=repo)
    if measured.returncode != 0:
        raise SystemExit(f"index in {repo} failed: {measured.stderr.strip()[-3000:]}")
    with open(os.path.join(out_dir, "run.json"), encoding="utf-8") as handle:
        run = json.load(handle)
    return {"wall_s": round(measured.wall_s, 2), "cpu_s": round(measured.cpu_s, 1),
            "peak_rss_mib": round(measured.peak_rss_bytes / 2**20), "run_wall_s": run["wall_s"],
            "indexed": run["indexed"], "reindexed": run["reindexed"], "carried_forward": run["carried_forward"],
            "frames": run.get("total_frames"), "load_average": load_average()}, run


def two_nights(name: str, repo: str, corpus: str, extra: str, args) -> dict:
    out_dir = os.path.join(WORK_DIR, f"nights-{name}")
    shutil.rmtree(out_dir, ignore_errors=True)
    clips = os.path.join(corpus, "clips", "**", "*.mp4")
    # One root for both nights: night 2's second --input would otherwise move the default root
    # (the deepest folder holding every input) and every row would be rebased.
    root = os.path.commonpath([corpus, extra])
    first, _ = _index(repo, [clips], root, out_dir, args)
    before = _files(out_dir)
    second, run = _index(repo, [clips, os.path.join(extra, "clips", "**", "*.mp4")], root, out_dir, args)
    after = _files(out_dir)
    night1_data = sum(stat.st_size for rel, stat in before.items() if _kind(rel) == "table_data")
    row = {"name": name, "repo": repo, "night1": first, "night2": second, "night1_table_bytes": night1_data,
           "night2_written": _written(before, after), "night1_frame_files": _night1_frames_untouched(before, after),
           "night2_commit": _commit_span(out_dir, run)}
    written = row["night2_written"]
    print(f"{name:<8} night 1 {first['wall_s']:6.1f} s; night 2 {second['wall_s']:6.1f} s "
          f"({second['reindexed']} read, {second['carried_forward']} carried), wrote {written['files']} files, "
          f"{written['bytes'] / 2**20:.2f} MiB {json.dumps(written['by_kind'])}; night-1 frame files unchanged "
          f"{row['night1_frame_files']['unchanged']}/{row['night1_frame_files']['files']}; "
          f"commit {row['night2_commit'] or 'n/a'}", file=sys.stderr, flush=True)
    if not args.keep_index:
        shutil.rmtree(out_dir, ignore_errors=True)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nights", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=os.path.join(WORK_DIR, "boston"),
                        help="a Boston corpus (made there if missing; only read)")
    parser.add_argument("--extra-clips", type=int, default=105)
    parser.add_argument("--compare-repo", metavar="DIR", help="another checkout, run second with the same nights")
    parser.add_argument("--tier", default="auto", choices=("auto", "header", "packets"))
    parser.add_argument("--hash", default="sha256", choices=("sha256", "none"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-index", action="store_true")
    parser.add_argument("--results", default=RESULTS_DIR)
    args = parser.parse_args(argv)
    ensure_corpus(args.corpus, **BOSTON)
    # Boston's mean clip length, to the second (synth wants a whole number of frames at 1 fps).
    extra_hours = round(BOSTON["hours"] * 3600 / BOSTON["clips"] * args.extra_clips) / 3600
    extra = os.path.join(WORK_DIR, f"boston-extra-{args.extra_clips}")
    _new_clips(extra, args.extra_clips, extra_hours)
    rows = [two_nights("this", REPO, args.corpus, extra, args)]
    if args.compare_repo:
        rows.append(two_nights("compare", os.path.abspath(args.compare_repo), args.corpus, extra, args))
    os.makedirs(args.results, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    path = os.path.join(args.results, f"nights-{stamp}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"corpus": BOSTON, "extra_clips": args.extra_clips, "machine": machine(), "runs": rows},
                  handle, indent=2)
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
