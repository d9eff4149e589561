"""A folder shaped like a real camera export, made from a synth corpus at test time.

One folder per device, GoPro-style names that repeat across devices, upper-case
`.MP4` (one lower-case `.mp4`), and what cameras and Windows leave beside the
clips: `.json`/`.vtt` sidecars, a `.THM` thumbnail, `Thumbs.db`, and a macOS
AppleDouble file (`._GX010001.MP4`). `export.csv` is what an evidence system
would export: uris relative to the export folder, expected durations.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

# (device folder, file name) for each clip of the source corpus, in manifest order.
CLIP_NAMES = (
    ("GoPro-A", "GX010001.MP4"),
    ("GoPro-A", "GX010002.MP4"),
    ("GoPro-B", "GX010001.MP4"),
    ("GoPro-B", "gx010003.mp4"),
    ("GoPro-B", "GX010004.MP4"),
)
SIDECARS = (
    ("GoPro-A", "GX010001.json", '{"gps": []}\n'),
    ("GoPro-A", "GX010001.vtt", "WEBVTT\n"),
    ("GoPro-A", "Thumbs.db", "\0\0thumbnail cache"),
    ("GoPro-B", "GX010001.THM", "\xff\xd8 jpeg thumbnail"),
    ("GoPro-B", "GX010004.srt", "1\n00:00:00,000 --> 00:00:01,000\nspeed 12 km/h\n"),
    ("GoPro-B", "._GX010001.MP4", "\0\5\26\7 AppleDouble resource fork"),
)


def camera_export(source_corpus: Path, root: Path) -> Path:
    """root/footage/<device>/<name> from the first clips of `source_corpus`; returns the footage folder."""
    footage = root / "footage"
    with open(source_corpus / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    export = []
    for (device, name), row in zip(CLIP_NAMES, rows):
        target = footage / device / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(row["uri"], target)
        export.append({"uri": f"{device}/{name}", "expected_duration_s": row["expected_duration_s"],
                       "device_id": device})
    for device, name, text in SIDECARS:
        (footage / device / name).write_bytes(text.encode("latin-1"))
    with open(root / "export.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["uri", "expected_duration_s", "device_id"])
        writer.writeheader()
        writer.writerows(export)
    return footage
