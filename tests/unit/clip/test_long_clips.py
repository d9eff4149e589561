"""Long clips leave the reader in bounded pieces, and every row still arrives exactly once.

A 140,000-frame clip (23 minutes at 100 fps of 32x32 pictures: long in frames,
cheap in bytes) is indexed by the isolated reader process: its frames must
cross the pipe as several record batches of at most FRAME_PIECE_ROWS rows, and
together be exactly ffprobe's packets, in presentation order. Then the same
clips through the CLI: the frames table holds every row once. (The 4-hour clip
and its reader memory are measured in bench/long_clips.py.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from schemas import FileInfo, IndexConfig
from tests.support.camera_media import make_long_clip
from tests.support.runs import needs_ffprobe, run_cli
from tests.support.oracle import ffmpeg, ffprobe
from transforms.clip.frame_pieces import FRAME_PIECE_ROWS
from transforms.isolation.pool import IsolatedIndexer
from tests.support.tables import read_table as read_index_table

pytestmark = needs_ffprobe
FRAMES = 140_000  # three pieces: 65,536 + 65,536 + 8,928


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    mkv = make_long_clip(str(folder / "long.mkv"), FRAMES)
    mp4 = str(folder / "long.mp4")
    ffmpeg("-i", mkv, "-c", "copy", mp4)
    return folder, {"packets": mkv, "index": mp4}


@pytest.mark.parametrize("tier", ["packets", "index"])
def test_frames_cross_the_pipe_in_pieces(long_clips, tier):
    _, paths = long_clips
    reader = IsolatedIndexer(IndexConfig(hash="none", clip_timeout_s=60))
    try:
        result = reader.index(FileInfo(paths[tier], None, None))
    finally:
        reader.close()
    assert result.clip.frame_count_source == tier
    pieces = list(result.frame_pieces)
    assert [p.num_rows for p in pieces] == [FRAME_PIECE_ROWS, FRAME_PIECE_ROWS, FRAMES - 2 * FRAME_PIECE_ROWS]
    pts = np.concatenate([p.column("pts").to_numpy() for p in pieces])
    index = np.concatenate([p.column("frame_index").to_numpy() for p in pieces])
    np.testing.assert_array_equal(index, np.arange(FRAMES))
    np.testing.assert_array_equal(pts, np.array(ffprobe(paths[tier]).pts, np.int64))
    assert result.clip.frame_count == FRAMES and result.clip.gap_count == 0


def test_long_clips_through_the_cli(long_clips):
    folder, _ = long_clips
    result = run_cli("index", "--input", str(folder / "long.*"), "--output", str(folder / "O"),
                     "--hash", "none", "--workers", "2")
    assert result.returncode == 0, result.stderr
    run = json.loads((folder / "O/run.json").read_text())
    assert run["indexed"] == 2 and run["total_frames"] == 2 * FRAMES
    frames = read_index_table(folder / "O", "frames", columns=["clip_id", "frame_index"])
    clip_ids = frames.column("clip_id").to_numpy(zero_copy_only=False)
    frame_index = frames.column("frame_index").to_numpy()
    assert len(set(clip_ids)) == 2
    for clip_id in set(clip_ids):
        np.testing.assert_array_equal(np.sort(frame_index[clip_ids == clip_id]), np.arange(FRAMES))
