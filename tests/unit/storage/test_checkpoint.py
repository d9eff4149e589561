"""Which checkpoint rows a resumed run may keep (transforms.storage.checkpoints), on hand-made tables."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import CLIPS_SCHEMA, FRAMES_SCHEMA, FileInfo
from transforms.storage.checkpoints import Checkpoint, complete_clips, kept_clips, resume
from transforms.storage.parquet import count_rows, write_table
from transforms.storage.snapshots import new_draft


def _clip(clip_id, frames, mtime=1.0):
    return {"clip_id": clip_id, "uri": f"/a/{clip_id}.mp4", "size_bytes": 10, "mtime_s": mtime,
            "frame_count": frames, "run_id": "old"}


def _frames(clip_id, count):
    return [{"clip_id": clip_id, "frame_index": i} for i in range(count)]


def _write(folder, name, rows, schema):
    folder.mkdir(parents=True, exist_ok=True)
    write_table(pa.Table.from_pylist(rows, schema=schema), str(folder / name))


def _info(clip_id, mtime=1.0):
    return FileInfo(f"/a/{clip_id}.mp4", 10, mtime)


def test_only_complete_current_unique_clips_are_kept(tmp_path):
    checkpoint = Checkpoint(str(tmp_path / "checkpoint"))
    clips, frames = tmp_path / "checkpoint/clips", tmp_path / "checkpoint/frames"
    _write(clips, "r1-part-1.parquet", [_clip("A", 2), _clip("B", 3), _clip("C", 1), _clip("E", 1)], CLIPS_SCHEMA)
    _write(clips, "r1-part-2.parquet", [_clip("C", 1)], CLIPS_SCHEMA)  # a retried bundle wrote C twice
    _write(frames, "r1-part-1.parquet", _frames("A", 2) + _frames("B", 2) + _frames("C", 2) + _frames("E", 1),
           FRAMES_SCHEMA)
    _write(frames, "r1-part-2.parquet", _frames("Z", 4), FRAMES_SCHEMA)  # clip row never closed
    (tmp_path / "checkpoint/clips/.r1-part-3.parquet.tmp").write_bytes(b"half a file")
    to_read = [_info("A"), _info("B"), _info("C"), _info("D"), _info("E", mtime=2.0)]  # E changed since

    assert complete_clips(checkpoint, to_read) == {"A": "/a/A.mp4"}
    draft = new_draft(str(tmp_path / "index"), "r2", None)
    left, resumed = resume(checkpoint, draft, to_read, "r2")
    assert resumed == 1 and [i.uri for i in left] == ["/a/B.mp4", "/a/C.mp4", "/a/D.mp4", "/a/E.mp4"]
    # The checkpoint now holds exactly A's rows, and the night's draft links them.
    assert pq.read_table(str(clips)).column("clip_id").to_pylist() == ["A"]
    assert pq.read_table(str(frames)).column("clip_id").to_pylist() == ["A", "A"]
    assert count_rows(draft.files("frames")) == 2 and kept_clips(checkpoint) == 1
    # A second resume of the same checkpoint keeps the same rows without rewriting them.
    assert complete_clips(checkpoint, to_read) == {"A": "/a/A.mp4"}


def test_no_checkpoint_reads_everything(tmp_path):
    to_read = [_info("A")]
    draft = new_draft(str(tmp_path / "index"), "r", None)
    assert resume(Checkpoint(str(tmp_path / "none")), draft, to_read, "r") == (to_read, 0)
