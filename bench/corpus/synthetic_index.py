"""A synthetic index and evidence-system export, for reconcile at archive scale.

Reconcile reads only the tables, so a Boston-sized index (38,200 clips) can be
written straight as Parquet into the index's Delta tables (DIR/clips/<run_id>/,
committed with transforms.storage.snapshots.commit) without encoding any video. Names
repeat on every device (`DEVnnnn/GX01nnnn.MP4`, numbering restarts per
camera), container durations run a few tens of ms past the video timeline,
and the export looks like an evidence system's: `Evidence ID`, `File Name`,
`Device Serial`, `Owner`, local US-style `Recorded On`, whole-second
`Duration` (HH:MM:SS, truncated), `47.8 MB`-style `File Size`.

Used by bench/reconcile_scale.py and tests/unit/reconcile/test_reconcile_scale.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from schemas import CLIPS_SCHEMA, ERRORS_SCHEMA
from transforms.storage import fs as storage
from transforms.storage.snapshots import commit, live_snapshot, new_draft, new_run_id
from transforms.storage.parquet import write_table

START = dt.datetime(2026, 1, 1, 6, 0, tzinfo=dt.timezone.utc)
CLIPS_PER_DEVICE = 100
MAPPING = {"clip_id": "Evidence ID", "uri": "File Name", "device_id": "Device Serial", "officer_id": "Owner",
           "recorded_at": "Recorded On", "expected_duration_s": "Duration", "size_bytes": "File Size"}


def columns_flag(mapping: dict = MAPPING) -> str:
    return ",".join(f"{field}={column}" for field, column in mapping.items())


def synthetic_clips(count: int, seed: int = 0, root: str = "/archive", start: dt.datetime = START,
                    store_device: bool = False) -> pa.Table:
    """A clips table (CLIPS_SCHEMA) of `count` clips, about 433 s each (Boston's average)."""
    rng = np.random.default_rng(seed)
    devices = max(1, -(-count // CLIPS_PER_DEVICE))
    number = np.arange(count)
    device, serial = number % devices, number // devices + 1
    names = [f"DEV{d:04d}" for d in range(devices)]
    device_ids = np.array(names, dtype=object)[device]
    uris = [f"{root}/{names[d]}/GX01{s:04d}.MP4" for d, s in zip(device.tolist(), serial.tolist())]
    duration_s = np.round(np.clip(rng.gamma(2.0, 216.5, count), 5, 3600) * 30) / 30
    start_us = int(start.timestamp() * 1e6)
    recorded_us = start_us + (serial * 4 * 3600 + device * 37) * 1_000_000  # 4 h apart on each camera
    sha = hashlib.sha256(seed.to_bytes(8, "little")).digest()
    columns = {
        "clip_id": [hashlib.sha1(u.encode()).hexdigest()[:16] for u in uris], "uri": uris,
        "size_bytes": (duration_s * rng.uniform(1.2e6, 1.8e6, count)).astype(np.int64),
        "sha256": [hashlib.sha256(sha + i.to_bytes(8, "little")).hexdigest() for i in range(count)],
        "container": ["mp4"] * count, "video_codec": ["h264"] * count,
        "fps": np.full(count, 30.0), "frame_count": np.round(duration_s * 30).astype(np.int64),
        "frame_count_source": ["index"] * count, "duration_s": duration_s, "duration_source": ["index"] * count,
        "container_duration_s": duration_s + rng.uniform(0.0, 0.07, count),
        "recorded_at": pa.array(recorded_us, pa.timestamp("us", tz="UTC")),
        "truncated": np.zeros(count, dtype=bool), "warnings": [[] for _ in range(count)],
        "device_id": device_ids if store_device else None,
    }
    arrays = [pa.array(columns[f.name], f.type) if columns.get(f.name) is not None else pa.nulls(count, f.type)
              for f in CLIPS_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=CLIPS_SCHEMA)


def write_index(out_dir: str, clips: pa.Table, errors: Optional[pa.Table] = None,
                options_key: Optional[dict] = None) -> str:
    """Commit the tables as a run in the index layout; returns the run id."""
    run_id = new_run_id()
    draft = new_draft(out_dir, run_id, live_snapshot(out_dir))  # replaces every row of the last night
    write_table(clips, storage.join(draft.folder("clips"), "part-00000.parquet"))
    errors = errors if errors is not None else ERRORS_SCHEMA.empty_table()
    write_table(errors, storage.join(draft.folder("errors"), "part-00000.parquet"))
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    total_s = float(np.sum(clips.column("duration_s").to_numpy()))
    commit(draft, {"run_id": run_id, "started_at": now, "finished_at": now, "synthetic": True,
                             "options_key": options_key or {}, "matched": clips.num_rows + errors.num_rows,
                             "indexed": clips.num_rows, "errors": errors.num_rows, "total_duration_s": total_s,
                             "total_hours": total_s / 3600, "total_bytes": 0, "changes": {}})
    return run_id


def human_size(size_bytes: np.ndarray) -> list[str]:
    """`47.8 MB`: one decimal, powers of 1000, as evidence systems show sizes."""
    out = []
    for size in size_bytes.tolist():
        unit, scale = next((u, s) for u, s in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("B", 1))
                           if size >= s or s == 1)
        out.append(f"{size / scale:.1f} {unit}" if scale > 1 else f"{size} B")
    return out


def hhmmss(seconds: np.ndarray) -> list[str]:
    whole = np.floor(seconds).astype(np.int64)  # exports truncate to whole seconds
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in whole.tolist()]


def export_table(clips: pa.Table, zone: str = "America/Chicago", first_id: int = 1,
                 durations_s: Optional[np.ndarray] = None) -> pa.Table:
    """The evidence system's export of these clips (durations: whole seconds of the container)."""
    local = zoneinfo.ZoneInfo(zone)
    times = clips.column("recorded_at").to_pylist()
    seconds = clips.column("container_duration_s").to_numpy() if durations_s is None else durations_s
    uris = clips.column("uri").to_pylist()
    return pa.table({
        "Evidence ID": [f"E-{first_id + i:08d}" for i in range(clips.num_rows)],
        "File Name": [u.rsplit("/", 1)[-1] for u in uris],
        "Device Serial": [u.rsplit("/", 2)[-2] for u in uris],
        "Owner": [f"OFC-{hash(u.rsplit('/', 2)[-2]) % 500:04d}" for u in uris],
        "Recorded On": [t.astimezone(local).strftime("%m/%d/%Y %I:%M:%S %p") for t in times],
        "Duration": hhmmss(seconds),
        "File Size": human_size(clips.column("size_bytes").to_numpy()),
    })


def write_export(path: str, table: pa.Table) -> None:
    pacsv.write_csv(table, path)
