"""Reader memory on long clips: a 10-minute and a 4-hour clip (432,000 frames at 30 fps).

    python -m bench.long_clips [--hours 4] [--short-minutes 10] [--compare-repo DIR] [--cli]

The clips are made cheaply: one second of 30 fps video (a GOP, 160x90) is
encoded once and stream-copied over and over (`-stream_loop`, timestamps
shifted by ffmpeg), for MP4 (IP-only, moov at the end: the header tier),
and MKV and MPEG-TS with B-frames (the packets tier).

The reader is measured as the isolated child runs it, in a process of its
own: import, index a 2-second warm-up clip, note the resident set (VmRSS),
reset the high-water mark (`/proc/self/clear_refs` = 5), index the long clip
and send its rows as the child sends them down the pipe (to /dev/null), then
read the peak (VmHWM). The growth over the warm-up RSS is what the long clip
cost; divided by its frames, bytes per frame. `--compare-repo DIR` measures
another checkout the same way (e.g. the code before the packets tier kept its
arrays in numpy chunks and sent frames in pieces). `--cli` also runs
`clipindex index` on each long clip (whole process tree, bench/lib/measure.py).
Results: bench/results/long-clips-<stamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys

from bench.corpus.camera import run_ffmpeg
from bench.lib.measure import load_average, machine, run_measured
from bench.lib.harness import REPO, RESULTS_DIR, WORK_DIR, env

# (name, extension, B-frames, tier that reads it)
KINDS = (("mp4", "mp4", 0, "header"), ("mkv", "mkv", 3, "packets"), ("ts", "ts", 3, "packets"))

# Runs inside the measured process (in the repository under test): index, then send the
# rows the way that repository's isolated child sends them.
_READER = r"""
import json, os, sys
from schemas import FileInfo, IndexConfig
try:
    from transforms.clip.index_clip import index_file
    from transforms.isolation.wire import send_result
except ImportError:  # a checkout from before transforms/ had subpackages
    from transforms import isolation
    from transforms.index_clip import index_file
    send_result = getattr(isolation, "_send_result", None)

def status(key):
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) * 1024 for line in handle if line.startswith(key))

def read(path, tier):
    result = index_file(FileInfo(path, None, None), IndexConfig(tier=tier, hash="none", isolation="none"))
    with open(os.devnull, "wb", buffering=0) as sink:
        if send_result is not None:
            send_result(sink, result)
        else:  # a checkout from before frames went out in pieces
            isolation._write_message(sink, isolation._encode_result(result))
    return result.clip

warm, path, tier = sys.argv[1:4]
read(warm, tier)
before = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")
clip = read(path, tier)
print(json.dumps({"rss_before_bytes": before, "peak_rss_bytes": status("VmHWM:"), "frames": clip.frame_count,
                  "frame_count_source": clip.frame_count_source, "index_wall_s": clip.index_wall_s}))
"""


def make_long(folder: str, kind: tuple, seconds: float) -> str:
    name, ext, bframes, _ = kind
    segment = os.path.join(folder, f"segment-{name}.{ext}")
    if not os.path.exists(segment):
        run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30:duration=1", "-c:v", "libx264",
                    "-preset", "veryfast", "-bf", str(bframes), "-g", "30", "-pix_fmt", "yuv420p", segment])
    path = os.path.join(folder, f"{name}-{seconds:g}s.{ext}")
    if not os.path.exists(path):
        run_ffmpeg(["-stream_loop", "-1", "-i", segment, "-frames:v", str(round(seconds * 30)), "-c", "copy",
                    path], timeout_s=1800)
    return path


def measure_reader(repo: str, warm: str, path: str, tier: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _READER, warm, path, tier], capture_output=True, text=True,
                          cwd=repo, env=env(repo), timeout=3600)
    if done.returncode:
        raise SystemExit(f"reader failed on {path}: {done.stderr.strip()[-2000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["growth_bytes"] = row["peak_rss_bytes"] - row["rss_before_bytes"]
    row["growth_bytes_per_frame"] = round(row["growth_bytes"] / row["frames"], 1)
    return row


def measure_cli(path: str, out_dir: str) -> dict:
    shutil.rmtree(out_dir, ignore_errors=True)
    measured = run_measured([sys.executable, "-m", "pipeline", "index", "--input", path, "--output", out_dir,
                             "--hash", "none", "--workers", "2", "--quiet"], env=env(), cwd=REPO)
    if measured.returncode:
        raise SystemExit(f"clipindex index failed on {path}: {measured.stderr.strip()[-2000:]}")
    shutil.rmtree(out_dir, ignore_errors=True)
    return {"wall_s": round(measured.wall_s, 2), "peak_tree_rss_bytes": measured.peak_rss_bytes,
            "peak_tree_pss_bytes": measured.peak_pss_bytes}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.long_clips", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=4.0, help="the long clip (default 4 h: 432,000 frames)")
    parser.add_argument("--short-minutes", type=float, default=10.0)
    parser.add_argument("--kinds", default="mp4,mkv,ts")
    parser.add_argument("--compare-repo", metavar="DIR", help="also measure another checkout's reader")
    parser.add_argument("--cli", action="store_true", help="also time `clipindex index` on each long clip")
    parser.add_argument("--work", default=os.path.join(WORK_DIR, "long-clips"))
    parser.add_argument("--results", default=RESULTS_DIR)
    parser.add_argument("--keep", action="store_true", help="keep the clips (bench/work/long-clips)")
    args = parser.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    kinds = [k for k in KINDS if k[0] in args.kinds.split(",")]
    repos = {"this": REPO, **({"compare": os.path.abspath(args.compare_repo)} if args.compare_repo else {})}
    rows = []
    for kind in kinds:
        warm = make_long(args.work, kind, 2)
        for seconds in (args.short_minutes * 60, args.hours * 3600):
            path = make_long(args.work, kind, seconds)
            for label, repo in repos.items():
                row = {"kind": kind[0], "tier": kind[3], "duration_s": seconds, "repo": label,
                       "size_bytes": os.path.getsize(path), **measure_reader(repo, warm, path, kind[3])}
                if args.cli and label == "this" and seconds > args.short_minutes * 60:
                    row["cli"] = measure_cli(path, os.path.join(args.work, "out"))
                rows.append(row)
                print(f"{kind[0]:4} {seconds / 60:7.1f} min {label:8} {row['frame_count_source']:8} "
                      f"{row['frames']:7d} frames  RSS {row['rss_before_bytes'] / 2**20:6.1f} -> "
                      f"{row['peak_rss_bytes'] / 2**20:6.1f} MiB  (+{row['growth_bytes_per_frame']:.0f} B/frame)"
                      + (f"  CLI {row['cli']['wall_s']} s, tree {row['cli']['peak_tree_rss_bytes'] / 2**20:.0f} MiB"
                         if "cli" in row else ""), file=sys.stderr, flush=True)
    summary = {"kind": "long-clips", "machine": machine(), "load_average": load_average(), "rows": rows,
               "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, f"long-clips-{dt.datetime.now().strftime('%Y%m%dT%H%M%S')}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print(f"wrote {path}", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
