"""Camera-shaped throughput: clipindex on B-frame H.264 + AAC clips with the moov at the end.

    python -m bench.camera [--clips 300] [--minutes 7.2] [--corpus DIR] [--workers 2] [--repeat 1]

The footage most encoders write (H.264 High with B-frames, AAC, moov written
last) was the header tier's blind spot before its sample-table reader learnt
composition offsets and edit lists. The corpus is made cheaply: `--looks`
short segments are encoded once each (libx264 High, B-frames, closed
one-second GOPs so any cut is on a keyframe, AAC), and every clip is a
different sequence of those segments joined with the concat demuxer and
`-c copy` (moov at the end, no faststart), so the clips are distinct files of
the chosen length for the price of a remux each. Then, at the same
parallelism, like bench/throughput.py:

* `clipindex index --tier auto --hash none` end to end (bytes read from the
  clips table; every clip must come out with frame_count_source = index);
* the ffprobe packet loop and the bare PyAV demux loop (bench/lib/baselines.py),
  and, for reference, the bare PyAV `index_entries` loop (decode times only:
  wrong presentation times for B-frames, so not a contender).

Results: bench/results/camera-<stamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


from bench.lib.measure import load_average, machine
from bench.lib.harness import RESULTS_DIR, WORK_DIR, best, run_baseline, run_clipindex
from bench.lib.tables import read_index_table

# One look per segment: a test pattern with its own hue, motion and noise, and its own tone.
_PATTERNS = ("testsrc2", "testsrc", "smptehdbars", "rgbtestsrc", "mandelbrot", "cellauto", "life", "yuvtestsrc")


def _segment_args(look: int, size: str, seconds: int, video_kbps: int) -> list[str]:
    pattern = _PATTERNS[look % len(_PATTERNS)]
    hue = (look * 47) % 360
    video = f"{pattern}=size={size}:rate=30,hue=h={hue},noise=alls={4 + look % 9}:allf=t,format=yuv420p"
    return ["-f", "lavfi", "-i", video, "-f", "lavfi", "-i", f"sine=frequency={220 + 37 * look}:sample_rate=48000",
            "-t", str(seconds),
            "-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast", "-bf", "3", "-g", "30",
            "-keyint_min", "30", "-sc_threshold", "0", "-b:v", f"{video_kbps}k",
            "-maxrate", f"{2 * video_kbps}k", "-bufsize", f"{2 * video_kbps}k",
            "-c:a", "aac", "-b:a", "48k"]


def _ffmpeg(args: list[str]) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True, timeout=3600)


def ensure_corpus(corpus: str, params: dict, workers: int) -> None:
    """Encode the segments and join them into clips, unless DIR already holds this corpus."""
    corpus = os.path.abspath(corpus)  # the concat lists name segments by absolute path
    stamp = os.path.join(corpus, "camera-params.json")
    if os.path.exists(stamp):
        with open(stamp, encoding="utf-8") as handle:
            if json.load(handle) == params:
                return
        raise SystemExit(f"{corpus} holds a different corpus; delete it or choose another --corpus")
    segments_dir, clips_dir = os.path.join(corpus, "segments"), os.path.join(corpus, "clips")
    os.makedirs(segments_dir, exist_ok=True)
    os.makedirs(clips_dir, exist_ok=True)
    looks, seconds = params["looks"], params["segment_s"]
    segments = [os.path.join(segments_dir, f"look-{look:02d}.mp4") for look in range(looks)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda look: _ffmpeg([*_segment_args(look, params["size"], seconds, params["video_kbps"]),
                                            segments[look]]), range(looks)))
    per_clip = round(params["minutes"] * 60 / seconds)

    def join(number: int) -> None:
        # A different walk through the looks per clip: the clips are distinct files.
        step = 1 + number % (looks - 1)
        order = [segments[(number + k * step) % looks] for k in range(per_clip)]
        listing = os.path.join(clips_dir, f".cam-{number:04d}.txt")
        with open(listing, "w", encoding="utf-8") as handle:
            handle.writelines(f"file '{path}'\n" for path in order)
        _ffmpeg(["-f", "concat", "-safe", "0", "-i", listing, "-c", "copy",
                 os.path.join(clips_dir, f"cam-{number:04d}.mp4")])
        os.remove(listing)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(join, range(params["clips"])))
    with open(stamp, "w", encoding="utf-8") as handle:
        json.dump(params, handle)


def _index_sources(out_dir: str) -> dict:
    """The clips table's frame_count_source counts, to show every clip used the index tier."""
    table = read_index_table(out_dir, "clips", ["frame_count_source"])
    sources = table.column("frame_count_source").to_pylist()
    return {source: sources.count(source) for source in set(sources)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.camera", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=os.path.join(WORK_DIR, "camera-300"))
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=7.2, help="clip length (Boston's mean: 7.2)")
    parser.add_argument("--looks", type=int, default=12, help="distinct segments encoded")
    parser.add_argument("--segment-s", type=int, default=12)
    parser.add_argument("--size", default="320x240")
    parser.add_argument("--video-kbps", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-ffprobe", action="store_true")
    parser.add_argument("--results", default=RESULTS_DIR)
    args = parser.parse_args(argv)
    params = {"clips": args.clips, "minutes": args.minutes, "looks": args.looks, "segment_s": args.segment_s,
              "size": args.size, "video_kbps": args.video_kbps}
    ensure_corpus(args.corpus, params, args.workers)
    files = sorted(glob.glob(os.path.join(args.corpus, "clips", "*.mp4")))
    scratch = os.path.join(WORK_DIR, "scratch-camera")
    os.makedirs(scratch, exist_ok=True)
    list_path = os.path.join(scratch, "files.txt")
    with open(list_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(files) + "\n")

    runs: dict[str, list[dict]] = {}
    sources = {}
    for attempt in range(args.repeat):
        plan = [("clipindex", "auto"), ("pyav", "packets"), ("pyav", "header")]
        if not args.skip_ffprobe and attempt == 0:
            plan.insert(1, ("ffprobe", None))
        for kind, tier in plan:
            out_dir = os.path.join(scratch, "out")
            if kind == "clipindex":
                row = run_clipindex(os.path.join(args.corpus), out_dir, tier, "none", args.workers, keep=True)
                sources = _index_sources(out_dir)
                shutil.rmtree(out_dir, ignore_errors=True)
            else:
                row = run_baseline(kind, list_path, args.workers, tier or "header", out_dir)
            row["load_average"] = load_average()
            runs.setdefault(row["name"], []).append(row)
            print(f"[{attempt + 1}/{args.repeat}] {row['name']:<24} {row['wall_s']:8.2f} s "
                  f"{row['clips_per_s']:8.1f} clips/s  load {row['load_average'][0]}", file=sys.stderr, flush=True)
    results = {name: best(rows) for name, rows in runs.items()}
    ours = results["clipindex auto"]
    ratios = {"vs_ffprobe": None, "vs_bare_pyav_demux": round(ours["clips_per_s"] /
                                                             results["bare PyAV packets"]["clips_per_s"], 3)}
    if "ffprobe loop" in results:
        ratios["vs_ffprobe"] = round(ours["clips_per_s"] / results["ffprobe loop"]["clips_per_s"], 2)
    summary = {
        "kind": "camera",
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "workers": args.workers,
        "corpus": {**params, "files": len(files), "bytes": sum(os.path.getsize(f) for f in files)},
        "frame_count_source": sources,
        "results": list(results.values()),
        "ratios": ratios,
        "bytes_read_fraction": ours.get("bytes_read_fraction"),
    }
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, f"camera-{dt.datetime.now().strftime('%Y%m%dT%H%M%S')}.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print(json.dumps({**ratios, "bytes_read_fraction": summary["bytes_read_fraction"], "sources": sources}))
    print(f"wrote {path}", file=sys.stderr)
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
