"""Recipes for hostile inputs, built at test time from small valid clips.

Nothing here is committed media: each function writes bytes derived from a
clip that `tools.mutate.make_clip` encodes on the spot.
"""

from __future__ import annotations

import os
import struct
import zlib

import av
import numpy as np

from tools.mutate import make_clip, top_level_boxes


def png_bytes(width: int = 8, height: int = 8) -> bytes:
    """A valid RGB PNG, written by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def box_span(data: bytes, kind: bytes) -> tuple[int, int]:
    """(start, end) of the first top-level box of `kind`."""
    for start, end in top_level_boxes(data):
        if data[start + 4:start + 8] == kind:
            return start, end
    raise LookupError(kind)


# --- H.264 SPS rewriting (to make a header claim an absurd frame size) ---

def _unescape(nal: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _escape(rbsp: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class _Bits:
    def __init__(self, data: bytes):
        self.bits = "".join(f"{b:08b}" for b in data)
        self.at = 0

    def u(self, count: int) -> int:
        value = int(self.bits[self.at:self.at + count], 2) if count else 0
        self.at += count
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bits[self.at] == "0":
            zeros += 1
            self.at += 1
        self.at += 1
        return (1 << zeros) - 1 + self.u(zeros)


def _ue_bits(value: int) -> str:
    code = bin(value + 1)[2:]
    return "0" * (len(code) - 1) + code


_HIGH_PROFILES = (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135)


def resize_sps(nal: bytes, width_px: int, height_px: int) -> bytes:
    """The SPS NAL unit `nal` with pic_width/height_in_mbs set for the given size."""
    bits = _Bits(_unescape(nal[1:]))
    profile = bits.u(8)
    bits.u(16)
    bits.ue()  # seq_parameter_set_id
    if profile in _HIGH_PROFILES:
        if bits.ue() == 3:
            bits.u(1)
        bits.ue(), bits.ue(), bits.u(1)
        if bits.u(1):
            raise ValueError("SPS with scaling matrices: not supported by this recipe")
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        raise ValueError("pic_order_cnt_type 1: not supported by this recipe")
    bits.ue(), bits.u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
    start = bits.at
    bits.ue(), bits.ue()
    rest = bits.bits[bits.at:].rstrip("0")  # keep the stop bit, drop the old padding
    new = bits.bits[:start] + _ue_bits(width_px // 16 - 1) + _ue_bits(height_px // 16 - 1) + rest
    new += "0" * (-len(new) % 8)
    return nal[:1] + _escape(int(new, 2).to_bytes(len(new) // 8, "big"))


def huge_dimensions_clip(path: str, width_px: int = 60000, height_px: int = 60000) -> str:
    """An MP4 whose avc1 entry and SPS both claim `width_px` x `height_px`.

    The clip is written with its `moov` after `mdat`, so growing the SPS (and
    every box around it) moves no media data and the chunk offsets stay right.
    """
    make_clip(path + ".src", faststart=False)
    with open(path + ".src", "rb") as handle:
        data = bytearray(handle.read())
    os.remove(path + ".src")
    moov = box_span(bytes(data), b"moov")
    avcc = data.find(b"avcC", moov[0]) + 4  # payload: 5 bytes, SPS count, u16 length, SPS
    old_len = struct.unpack_from(">H", data, avcc + 6)[0]
    sps = resize_sps(bytes(data[avcc + 8:avcc + 8 + old_len]), width_px, height_px)
    data[avcc + 6:avcc + 8 + old_len] = struct.pack(">H", len(sps)) + sps
    grown = len(sps) - old_len
    avc1 = data.find(b"avc1", moov[0])
    struct.pack_into(">HH", data, avc1 + 4 + 24, min(width_px, 65535), min(height_px, 65535))
    # Every box from moov down to avcC holds the SPS: each grows by the same bytes.
    for kind in (b"trak", b"mdia", b"minf", b"stbl", b"stsd", b"avc1", b"avcC"):
        at = data.find(kind, moov[0]) - 4
        struct.pack_into(">I", data, at, struct.unpack_from(">I", data, at)[0] + grown)
    struct.pack_into(">I", data, moov[0], moov[1] - moov[0] + grown)
    with open(path, "wb") as handle:
        handle.write(bytes(data))
    return path


def scribble_media_data(clip: bytes, run_bytes: int = 256) -> bytes:
    """Overwrite a run in the middle of the `mdat` payload with fixed noise."""
    start, end = box_span(clip, b"mdat")
    middle = (start + 8 + end) // 2
    noise = bytes((i * 151 + 7) % 256 for i in range(run_bytes))
    return clip[:middle] + noise + clip[middle + run_bytes:]


def cut_inside_media_data(clip: bytes) -> bytes:
    """A faststart clip cut two thirds into its `mdat`: the index lists lost samples."""
    start, end = box_span(clip, b"mdat")
    return clip[:start + (end - start) * 2 // 3]


def cut_before_index(clip_moov_at_end: bytes) -> bytes:
    """A recording that stopped before its `moov` was written."""
    start, _ = box_span(clip_moov_at_end, b"moov")
    return clip_moov_at_end[:start // 2]


def audio_only_clip(path: str, seconds: int = 1) -> str:
    """An MP4 holding one AAC track and no video."""
    rate = 8000
    with av.open(path, "w", format="mp4") as out:
        sound = out.add_stream("aac", rate=rate, layout="mono")
        tone = (np.sin(np.arange(rate * seconds) / 8.0) * 0.3).astype(np.float32).reshape(1, -1)
        for start in range(0, tone.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(tone[:, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(sound.encode(frame))
        out.mux(sound.encode())
    return path
