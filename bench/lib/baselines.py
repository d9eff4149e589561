"""The two baselines clipindex is measured against, doing the same extraction.

    python -m bench.lib.baselines ffprobe --list FILES.txt --workers 2
    python -m bench.lib.baselines pyav --tier header|packets --list FILES.txt --workers 2 --output DIR

* `ffprobe`: the usual shell-out loop (what video2dataset-style tools do): one
  `ffprobe -select_streams v:0 -show_entries packet=pts_time,flags -of csv`
  per clip, `--workers` at a time from a process pool; the CSV is parsed into
  per-frame timestamps and keyframe flags, so the work matches clipindex's
  timeline (it writes nothing, which flatters ffprobe).
* `pyav`: a bare PyAV loop, no Beam, no isolation, no checks: a
  multiprocessing pool; per clip `with av.open(path)`, read
  `stream.index_entries` (header tier) or demux every packet (packets tier),
  build the same frames Arrow arrays (same schema, presentation order) and
  write the same zstd Parquet, one file per chunk of clips. Its index read is
  the fastest plain-PyAV way (one `index_entries[:]` slice, one pass), so it
  is an honest ceiling for clipindex's per-clip work.

Each prints one JSON line: clips, frames, total_duration_s, errors.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import subprocess
import sys
from operator import attrgetter

CHUNK_CLIPS = 128  # clips per Parquet file in the bare PyAV loop (~230k frame rows)
_ENTRY_FIELDS = attrgetter("timestamp", "pos", "size", "flags")
_NO_TS = -(2**63)  # FFmpeg's AV_NOPTS_VALUE


def read_list(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle if line.strip()]


# ---------------------------------------------------------------- ffprobe loop

def ffprobe_one(path: str) -> tuple[int, float, bool]:
    """(frames, duration_s, ok) of one clip from ffprobe's packet list."""
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
         "-of", "csv", path], capture_output=True, text=True)
    if proc.returncode != 0:
        return 0, 0.0, False
    pts_s, keys = [], []
    for line in proc.stdout.splitlines():
        _, pts_text, flags = line.split(",", 2)
        if pts_text != "N/A":
            pts_s.append(float(pts_text))
        keys.append(flags.startswith("K"))
    if not pts_s:
        return len(keys), 0.0, True
    pts_s.sort()
    step = (pts_s[-1] - pts_s[0]) / (len(pts_s) - 1) if len(pts_s) > 1 else 0.0
    return len(keys), pts_s[-1] - pts_s[0] + step, True


def run_ffprobe(paths: list[str], workers: int) -> dict:
    frames = errors = 0
    duration_s = 0.0
    with multiprocessing.Pool(workers) as pool:
        for count, seconds, ok in pool.imap_unordered(ffprobe_one, paths, chunksize=4):
            frames += count
            duration_s += seconds
            errors += not ok
    return {"clips": len(paths), "frames": frames, "total_duration_s": duration_s, "errors": errors}


# ---------------------------------------------------------------- bare PyAV loop

def _pyav_arrays(path: str, tier: str, discard_others: bool = False):
    import av
    import av.stream
    import numpy as np

    with av.open(path) as container:
        stream = container.streams.video[0]
        if discard_others:  # what clipindex's packets tier does: FFmpeg skips the other streams
            for other in container.streams:
                if other.index != stream.index:
                    other.discard = av.stream.Discard.all
        tb = stream.time_base
        if tier == "header":
            # The fastest plain-PyAV read we know (the one clipindex uses too).
            listed = stream.index_entries[:]
            flat = itertools.chain.from_iterable(map(_ENTRY_FIELDS, listed))
            rows = np.fromiter(flat, np.int64, 4 * len(listed)).reshape(-1, 4)
            pts = rows[:, 0]
            dts, pos, sizes, keys = pts, rows[:, 1], rows[:, 2], (rows[:, 3] & 1).astype(bool)
        else:
            packets = [(p.pts, p.dts, p.pos, p.size, p.is_keyframe)
                       for p in container.demux(stream) if p.size]
            # MKV leaves the first B-frame packets' dts unset, AVI every pts: None -> NO_TS.
            pts = np.array([_NO_TS if p[0] is None else p[0] for p in packets], dtype=np.int64)
            dts = np.array([_NO_TS if p[1] is None else p[1] for p in packets], dtype=np.int64)
            pos = np.array([-1 if p[2] is None else p[2] for p in packets], dtype=np.int64)
            sizes = np.array([p[3] for p in packets], dtype=np.int64)
            keys = np.array([p[4] for p in packets], dtype=bool)
    order = np.argsort(pts, kind="stable")
    return tb, pts[order], dts[order], pos[order], sizes[order], keys[order]


def _pyav_batch(path: str, tier: str, discard_others: bool = False):
    import hashlib

    import numpy as np
    import pyarrow as pa

    from schemas import FRAMES_SCHEMA

    tb, pts, dts, pos, sizes, keys = _pyav_arrays(path, tier, discard_others)
    count = pts.shape[0]
    clip_id = hashlib.sha1(path.encode()).hexdigest()[:16]
    scale = tb.numerator / tb.denominator
    columns = [
        pa.DictionaryArray.from_arrays(np.zeros(count, np.int32), pa.array([clip_id])).cast(pa.string()),
        pa.array(np.arange(count, dtype=np.int32)),
        pa.array(pts), pa.array(dts),
        pa.array(np.full(count, tb.numerator, np.int32)),
        pa.array(np.full(count, tb.denominator, np.int32)),
        pa.array(pts * scale),
        pa.array(keys),
        pa.array(sizes.astype(np.int32)),
        pa.array(pos),
    ]
    step = (pts[-1] - pts[0]) / (count - 1) if count > 1 else 0
    duration_s = float((pts[-1] - pts[0] + step) * scale) if count else 0.0
    return pa.RecordBatch.from_arrays(columns, schema=FRAMES_SCHEMA), duration_s


def pyav_chunk(task: tuple[int, list[str], str, str, bool]) -> tuple[int, int, float, int]:
    """Index one chunk of clips into one Parquet file: (clips, frames, duration_s, errors)."""
    import av
    import av.logging
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas import FRAMES_SCHEMA, parquet_options

    av.logging.set_level(None)
    number, paths, tier, out_dir, discard_others = task
    batches, duration_s, errors = [], 0.0, 0
    for path in paths:
        try:
            batch, seconds = _pyav_batch(path, tier, discard_others)
        except (av.FFmpegError, IndexError):
            errors += 1
            continue
        batches.append(batch)
        duration_s += seconds
    table = pa.Table.from_batches(batches, schema=FRAMES_SCHEMA)
    # The same Parquet as clipindex writes (codec, encodings, row groups).
    pq.write_table(table, os.path.join(out_dir, f"part-{number:05d}.parquet"),
                   row_group_size=256 * 1024, **parquet_options(FRAMES_SCHEMA))
    return len(paths), table.num_rows, duration_s, errors


def run_pyav(paths: list[str], workers: int, tier: str, out_dir: str, chunk_clips: int = CHUNK_CLIPS,
             discard_others: bool = False) -> dict:
    os.makedirs(out_dir, exist_ok=True)
    chunks = [(n, paths[i:i + chunk_clips], tier, out_dir, discard_others)
              for n, i in enumerate(range(0, len(paths), chunk_clips))]
    totals = {"clips": 0, "frames": 0, "total_duration_s": 0.0, "errors": 0}
    with multiprocessing.Pool(workers) as pool:
        for clips, frames, seconds, errors in pool.imap_unordered(pyav_chunk, chunks):
            totals["clips"] += clips
            totals["frames"] += frames
            totals["total_duration_s"] += seconds
            totals["errors"] += errors
    return totals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lib.baselines")
    parser.add_argument("kind", choices=("ffprobe", "pyav"))
    parser.add_argument("--list", required=True, help="text file, one clip path per line")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tier", choices=("header", "packets"), default="header")
    parser.add_argument("--output", help="Parquet output folder (pyav)")
    parser.add_argument("--chunk-clips", type=int, default=CHUNK_CLIPS,
                        help="clips per Parquet file and per task (pyav); fewer than clips/workers "
                             "leaves a worker idle")
    parser.add_argument("--discard-others", action="store_true",
                        help="packets tier: set every other stream to discard=all first (as clipindex does)")
    args = parser.parse_args(argv)
    paths = read_list(args.list)
    if args.kind == "ffprobe":
        result = run_ffprobe(paths, args.workers)
    else:
        if not args.output:
            parser.error("pyav needs --output")
        result = run_pyav(paths, args.workers, args.tier, args.output, args.chunk_clips, args.discard_others)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
