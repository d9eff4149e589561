"""What resuming costs at archive scale: reading a checkpoint and deciding what to keep.

    python -m bench.resume [--clips 38200] [--frames-per-clip 434]

Writes a Boston-shaped checkpoint (38,200 clips, 434 frames each at 1 fps: 16.6 M frame
rows, in files as the writer makes them) to bench/work/resume-N/, then times
`transforms.storage.checkpoints.resume` in one run: all clips complete (files only linked), and the
same with the last frames file missing (its clips are read again; mixed clips files are
rewritten). The plan's own cost (matching, the previous snapshot) is not included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

import pyarrow as pa

from schemas import CLIPS_SCHEMA, FRAMES_SCHEMA, FileInfo
from transforms.storage.checkpoints import Checkpoint, resume
from transforms.storage.parquet import write_table
from transforms.beam.write_index import FRAME_ROWS_PER_TABLE, RECORDS_PER_TABLE, ROW_GROUPS_PER_FILE

WORK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "work")


def _uri(number: int) -> str:
    return f"/archive/BWC-{number % 200:04d}/clip-{number:06d}.mp4"


def build(folder: str, clips: int, frames_per_clip: int) -> None:
    os.makedirs(os.path.join(folder, "clips"))
    os.makedirs(os.path.join(folder, "frames"))
    for start in range(0, clips, RECORDS_PER_TABLE):
        numbers = range(start, min(clips, start + RECORDS_PER_TABLE))
        table = pa.Table.from_pydict({
            "clip_id": [f"{n:016x}" for n in numbers], "uri": [_uri(n) for n in numbers],
            "size_bytes": [1000] * len(numbers), "mtime_s": [1.0] * len(numbers),
            "frame_count": [frames_per_clip] * len(numbers)}, schema=pa.schema(
            [CLIPS_SCHEMA.field(name) for name in ("clip_id", "uri", "size_bytes", "mtime_s", "frame_count")]))
        full = pa.Table.from_pylist([], schema=CLIPS_SCHEMA)
        columns = {name: table.column(name) if name in table.column_names else pa.nulls(len(numbers), field.type)
                   for name, field in zip(full.schema.names, full.schema)}
        write_table(pa.Table.from_pydict(columns, schema=CLIPS_SCHEMA),
                    os.path.join(folder, "clips", f"r-part-{start:08d}.parquet"))
    clips_per_file = FRAME_ROWS_PER_TABLE * ROW_GROUPS_PER_FILE // frames_per_clip
    for start in range(0, clips, clips_per_file):
        numbers = range(start, min(clips, start + clips_per_file))
        ids = pa.array([f"{n:016x}" for n in numbers]).take(
            pa.array([i // frames_per_clip for i in range(len(numbers) * frames_per_clip)]))
        rows = len(ids)
        columns = {field.name: pa.nulls(rows, field.type) for field in FRAMES_SCHEMA}
        columns["clip_id"] = ids
        write_table(pa.Table.from_pydict(columns, schema=FRAMES_SCHEMA),
                    os.path.join(folder, "frames", f"r-part-{start:08d}.parquet"))


def timed(source: str, work: str, to_read: list[FileInfo], drop_last_frames: bool) -> tuple[float, int]:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, os.path.join(work, "checkpoint"))
    if drop_last_frames:
        frames = sorted(os.listdir(os.path.join(work, "checkpoint", "frames")))
        os.unlink(os.path.join(work, "checkpoint", "frames", frames[-1]))
    snapshot = os.path.join(work, "snapshot")
    for table in ("clips", "frames", "samples"):
        os.makedirs(os.path.join(snapshot, table))
    started = time.perf_counter()
    left, _ = resume(Checkpoint(os.path.join(work, "checkpoint")), snapshot, to_read, "new")
    return time.perf_counter() - started, len(left)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.resume", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=38200)
    parser.add_argument("--frames-per-clip", type=int, default=434)
    args = parser.parse_args(argv)
    root = os.path.join(WORK, f"resume-{args.clips}")
    source = os.path.join(root, "source")
    if not os.path.isdir(source):
        build(source, args.clips, args.frames_per_clip)
    to_read = [FileInfo(_uri(n), 1000, 1.0) for n in range(args.clips)]
    for name, drop in (("all complete", False), ("last frames file lost", True)):
        seconds, left = timed(source, os.path.join(root, "run"), to_read, drop)
        print(f"resume, {name:<22} {seconds:6.2f} s   {args.clips - left} clips kept, {left} to read")
    shutil.rmtree(os.path.join(root, "run"), ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
