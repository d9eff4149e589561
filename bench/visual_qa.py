"""Benchmark of visual QA: `python -m bench.visual_qa [--size 640x360] [--seconds 60]`.

1. Throughput of `--decode keyframes` (transforms.clip.qa.analyze) against a bare
   PyAV loop that decodes the same keyframes and computes the same metrics,
   best of 3 runs each; the ratio is what the issue asks to stay >= 0.85.
2. fps:N strategies: seeking to keyframes vs decoding sequentially, for N
   below and above the keyframe rate (what frame_sampling decides on).
3. Peak RSS of analysing a short and a long clip, each in a fresh process:
   memory must not grow with the clip.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import av
from av.video.reformatter import VideoReformatter

from pipeline.synth import synth
from schemas import QaOptions
from transforms.clip.qa import metrics as fm
from transforms.clip.qa.sampling import SampleMode, SamplingReport, sample_frames
from transforms.clip.qa.analyze import analyze_uri

REPEATS = 3


def bare_keyframes_loop(path: str, qa: QaOptions, reuse: bool = False) -> int:
    """The reference: PyAV decode of keyframes + the same metrics, nothing else.

    `reuse`: one swscale reformatter for every frame (`frame.reformat` builds a
    new swscale context per frame), the best plain-PyAV loop found.
    """
    count = 0
    previous = None
    reformatter = VideoReformatter() if reuse else None
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        for frame in container.decode(stream):
            width, height = fm.analysis_size(frame.width, frame.height)
            options = {"width": width, "height": height, "format": "gray", "interpolation": "AREA"}
            small = reformatter.reformat(frame, **options) if reuse else frame.reformat(**options)
            gray = small.to_ndarray()
            fm.mean_luma(gray), fm.dark_fraction(gray, qa.dark_luma), fm.sharpness(gray), fm.phash(gray)
            if previous is not None:
                fm.change(previous, gray)
            previous = gray
            count += 1
    return count


def best_of(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def make_corpus(root: str, size: str, seconds: int) -> list[str]:
    """One clip of `seconds` and one of 10x that (for the memory check)."""
    paths = []
    for name, clip_seconds in (("short", seconds), ("long", seconds * 10)):
        folder = os.path.join(root, name)
        synth(folder, clips=1, hours=clip_seconds / 3600, fps=30, size=size, seed=1)
        paths.extend(os.path.join(dp, f) for dp, _, fs in os.walk(folder) for f in fs if f.endswith(".mp4"))
    return paths


def throughput(path: str) -> dict:
    qa = QaOptions()
    frames = bare_keyframes_loop(path, qa)  # warm the page cache
    # Interleaved, so a burst of load from other users hits both sides alike.
    bare_s = ours_s = float("inf")
    for _ in range(REPEATS):
        bare_s = min(bare_s, best_of(lambda: bare_keyframes_loop(path, qa), 1))
        ours_s = min(ours_s, best_of(lambda: analyze_uri(path, "bench", SampleMode.parse("keyframes"), qa), 1))
    return {"keyframes": frames, "bare_s": round(bare_s, 4), "visual_qa_s": round(ours_s, 4),
            "bare_keyframes_per_s": round(frames / bare_s, 1),
            "visual_qa_keyframes_per_s": round(frames / ours_s, 1),
            "ratio": round(bare_s / ours_s, 3)}


def _strategy_time(path: str, fps: float, keyframe_interval_s) -> tuple[float, int]:
    """One timed run (sequential decoding of a long clip is slow on a shared machine)."""
    def run() -> int:
        with av.open(path) as container:
            stream = container.streams.video[0]
            end_s = float(stream.duration * stream.time_base)
            return sum(1 for _ in sample_frames(container, stream, SampleMode(False, fps), 0.0, end_s,
                                                keyframe_interval_s, SamplingReport()))
    started = time.perf_counter()
    count = run()
    return time.perf_counter() - started, count


def strategies(path: str) -> list[dict]:
    rows = []
    for fps in (0.25, 2.0):
        seek_s, seek_n = _strategy_time(path, fps, 1e-9)        # forces seeking
        seq_s, seq_n = _strategy_time(path, fps, None)          # forces sequential decoding
        rows.append({"fps": fps, "seek_s": round(seek_s, 4), "seek_samples": seek_n,
                     "sequential_s": round(seq_s, 4), "sequential_samples": seq_n,
                     # Seeking lands on keyframes only: above the keyframe rate it gives fewer samples.
                     "faster": ("seek" if seek_s < seq_s else "sequential") if seek_n == seq_n
                     else "not comparable: seeking gives only keyframes"})
    return rows


# Imports alone peak higher than a clip's work, so the child resets its high-water
# mark (Linux: "5" > /proc/self/clear_refs) after importing and reports both.
_RSS_CHILD = """
import json, sys
from transforms.clip.qa.sampling import SampleMode
from transforms.clip.qa.analyze import analyze_uri

def kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))

imports_peak = kib("VmHWM:")
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
before = kib("VmRSS:")
result = analyze_uri(sys.argv[1], "bench", SampleMode.parse(sys.argv[2]))
print(json.dumps({"samples": result.samples.num_rows, "imports_peak_rss_mb": imports_peak / 1024,
                  "rss_before_mb": before / 1024, "peak_rss_during_clip_mb": kib("VmHWM:") / 1024}))
"""


def peak_rss(path: str, mode: str) -> dict:
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, path, mode], capture_output=True, text=True,
                         check=True, env=env).stdout
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in json.loads(out).items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.visual_qa", description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="640x360", help="frame size of the bench clips (default 640x360)")
    parser.add_argument("--seconds", type=int, default=30, help="short clip length; the long one is 10x")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-visual-qa-") as root:
        short, long_ = make_corpus(root, args.size, args.seconds)
        report = {"size": args.size, "short_s": args.seconds, "long_s": args.seconds * 10,
                  "keyframes_throughput": throughput(long_),
                  "fps_strategies": strategies(long_),
                  "memory": {f"{name}_{mode}": peak_rss(path, mode)
                             for name, path in (("short", short), ("long", long_))
                             for mode in ("keyframes", "fps:2")}}
    print(json.dumps(report, indent=2))
    ratio = report["keyframes_throughput"]["ratio"]
    print(f"keyframes: visual_qa at {ratio:.0%} of the bare PyAV loop (target >= 85%)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
