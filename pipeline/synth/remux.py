"""Remuxing synth clips from a pool of encoded one-GOP segments.

The pool is encoded once, in one encoder session (every segment then shares
the same SPS/PPS and starts with an IDR frame), and each clip is written by
copying those packets with shifted timestamps: no clip is encoded, so large
corpora take minutes, not hours.
"""

from __future__ import annotations

import dataclasses
import os
from fractions import Fraction

import av

from pipeline.synth.footage import Footage
from pipeline.synth.plan import ClipPlan


# A GOP of one second, but never fewer than this many frames: at --fps 1 a
# one-frame GOP would make every frame a keyframe and large corpora big.
MIN_GOP_FRAMES = 10


def gop_frames(fps: int) -> int:
    return max(fps, MIN_GOP_FRAMES)


@dataclasses.dataclass
class EncodedSegments:
    template_path: str                       # a tiny MP4 holding the stream parameters
    packets: list[list[tuple[bytes, bool]]]  # per segment: one GOP of (payload, keyframe)


def encode_segments(work_dir: str, fps: int, width: int, height: int, footage: Footage) -> EncodedSegments:
    path = os.path.join(work_dir, ".segments.mp4")
    gop = gop_frames(fps)
    with av.open(path, "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # One thread: x264's output then depends on nothing but its input (same seed, same bytes).
        stream.options = {"g": str(gop), "keyint_min": str(gop), "bf": "0", "sc_threshold": "0",
                          "preset": "veryfast", "crf": "28", "threads": "1"}
        pts = 0
        for segment in range(footage.segment_count):
            for picture in footage.segment_frames(segment, gop, width, height):
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                frame.pts = pts
                pts += 1
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    flat: list[tuple[bytes, bool]] = []
    with av.open(path) as source:
        for packet in source.demux(source.streams.video[0]):
            if packet.size:  # skip the flush packet at the end
                flat.append((bytes(packet), packet.is_keyframe))
    groups = [flat[v * gop:(v + 1) * gop] for v in range(footage.segment_count)]
    return EncodedSegments(template_path=path, packets=groups)


def write_clip(path: str, plan: ClipPlan, segments: EncodedSegments, fps: int) -> None:
    time_base = Fraction(1, fps)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(segments.template_path) as template, \
            av.open(path, "w", format="mp4", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(template.streams.video[0])
        # Must be set before the first packet: the header is written then.
        out.metadata["creation_time"] = plan.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        written = 0
        for variant in plan.segments:
            for payload, keyframe in segments.packets[variant]:
                if written == plan.frame_count:
                    break
                packet = av.Packet(payload)
                packet.pts = packet.dts = written
                packet.duration = 1
                packet.time_base = time_base
                packet.is_keyframe = keyframe
                packet.stream = stream
                out.mux(packet)
                written += 1


