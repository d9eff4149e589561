"""ffprobe as the oracle, shared by the oracle and camera-corpus tests.

Debian's ffprobe (FFmpeg 5.1) is a different FFmpeg from the 8.1 inside PyAV,
so agreement is evidence, not the same code agreeing with itself.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
from fractions import Fraction

import av
import numpy as np
import pyarrow as pa

from bench.corpus.camera import has_encoder, run_ffmpeg
from schemas import ErrorRecord, FileInfo, IndexConfig
from transforms.clip.index_clip import index_file

CONFIG = IndexConfig(hash="none", isolation="none")
__all__ = ["CONFIG", "Probe", "assert_frames_table", "ffmpeg", "ffprobe", "has_encoder", "index"]


def ffmpeg(*args: str) -> None:
    run_ffmpeg(list(args), timeout_s=120)


@dataclasses.dataclass(frozen=True)
class Probe:
    packet_count: int
    span_s: float             # max(pts + duration) - min(pts), packets not flagged discard
    keyframe_count: int
    discard_count: int
    time_base: Fraction
    rotation_deg: int
    pts: tuple[int, ...] = ()  # every packet's pts (dts where there is none), sorted
    start_s: float = 0.0       # the first shown packet's time


@functools.lru_cache(maxsize=None)
def ffprobe(path: str, stream: str = "v:0") -> Probe:
    """The packets ffprobe demuxes from `stream` (an ffprobe stream specifier)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-select_streams", stream, "-of", "json",
         "-show_entries", "stream=nb_read_packets,time_base:stream_side_data=rotation"
                          ":packet=pts,dts,pts_time,dts_time,duration_time,flags", path],
        capture_output=True, text=True, check=True, timeout=120).stdout
    data = json.loads(out)
    stream_facts = data["streams"][0]
    packets = data["packets"]
    shown = [p for p in packets if "D" not in p["flags"]]
    starts = [float(p.get("pts_time", p.get("dts_time"))) for p in shown]
    ends = [start + float(p.get("duration_time", 0)) for start, p in zip(starts, shown)]
    rotation = next((int(sd["rotation"]) for sd in stream_facts.get("side_data_list", []) if "rotation" in sd), 0)
    return Probe(packet_count=int(stream_facts["nb_read_packets"]), span_s=max(ends) - min(starts),
                 keyframe_count=sum("K" in p["flags"] for p in packets),
                 discard_count=len(packets) - len(shown),
                 time_base=Fraction(stream_facts["time_base"]), rotation_deg=rotation % 360,
                 pts=tuple(sorted(int(p.get("pts", p.get("dts"))) for p in packets)),
                 start_s=min(starts))


def index(path: str, config: IndexConfig = CONFIG):
    """(ClipRecord, frames table) of one clip indexed in-process; an error row fails the test."""
    result = index_file(FileInfo(path, None, None), config)
    assert not isinstance(result, ErrorRecord), f"error row: {result}"
    return result.clip, result.frames


def assert_frames_table(record, frames) -> None:
    assert frames.num_rows == record.frame_count
    assert frames.schema.field("pts").type == pa.int64() and frames.schema.field("dts").type == pa.int64()
    assert frames.column("pts").null_count == 0
    pts = np.asarray(frames.column("pts"))
    assert (pts[1:] >= pts[:-1]).all(), "frames are not in presentation order"
    assert frames.column("frame_index").to_pylist() == list(range(record.frame_count))
    for column in ("time_base_num", "time_base_den"):
        assert pa.types.is_integer(frames.schema.field(column).type)
    assert set(frames.column("time_base_num").to_pylist()) == {record.time_base_num}
    assert set(frames.column("time_base_den").to_pylist()) == {record.time_base_den}


def mp4_table_and_packets(path: str):
    """(clipindex's table or its reason, FFmpeg's demuxed video packets as arrays)."""
    import numpy as np

    from transforms.clip.mp4.boxes import read_moov
    from transforms.clip.mp4.header_tier import sample_table_of

    with open(path, "rb") as handle, av.open(path) as container:
        stream = container.streams.video[0]
        table = sample_table_of(handle, stream, os.path.getsize(path), read_moov(handle))
        rows = [(p.pts, p.dts, p.duration, p.pos, p.size, p.is_keyframe, p.is_discard)
                for p in container.demux(stream) if p.size]
    columns = np.array(rows, np.int64).T
    names = ("pts", "dts", "duration", "pos", "size_bytes", "is_keyframe", "is_discard")
    return table, dict(zip(names, columns))


def assert_table_is_ffmpegs(table, packets) -> None:
    import numpy as np

    from transforms.clip.mp4.sample_table import SampleTable

    assert isinstance(table, SampleTable), table
    discard = table.is_discard if table.is_discard is not None else np.zeros(table.dts.shape[0], bool)
    ours = {"pts": table.pts, "dts": table.dts, "duration": table.duration, "pos": table.pos,
            "size_bytes": table.size_bytes, "is_keyframe": table.is_keyframe, "is_discard": discard}
    for name, values in ours.items():
        np.testing.assert_array_equal(values.astype(np.int64), packets[name], err_msg=name)
