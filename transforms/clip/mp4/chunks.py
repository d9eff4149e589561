"""Where a stored track's samples are in the file: sizes (stsz), chunks (stsc, stco/co64).

Shared by the sample-table reader (`mp4_index`) and the checks on the other tracks
(`mp4_table`, `mp4_fragment_file`): FFmpeg stops demuxing every track at the first
sample that starts past the end of the file.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from transforms.clip.mp4 import boxes as mb

# FFmpeg's index keeps a sample's size in a signed 30-bit field (and mov_build_index stops at
# samples over 0x3FFFFFFF): past 512 MiB its index and the stored table no longer agree.
MAX_SAMPLE_BYTES = (1 << 29) - 1


def sample_sizes(moov: bytes, stsz) -> Union[np.ndarray, str]:
    sample_size = mb.scalar(moov, stsz, 4, ">I")
    count = mb.scalar(moov, stsz, 8, ">I")
    if sample_size is None or count is None or count == 0:
        return "no samples"
    if sample_size:
        if count > 100_000 + 16 * len(moov):  # a constant size lets a few bytes claim billions
            return "implausible sample count"
        sizes = np.full(count, sample_size, np.int64)
    else:
        start, end = stsz
        if start + 12 + 4 * count > end:
            return "short stsz"
        sizes = np.frombuffer(moov, mb.U32, count, start + 12).astype(np.int64)
    if int(sizes.max()) > MAX_SAMPLE_BYTES:
        return "a sample larger than FFmpeg's index can hold"
    if int(sizes.min()) == 0:
        return "a sample of size 0"  # FFmpeg demuxes it as an empty packet, which is not a frame
    return sizes


def chunk_layout(moov: bytes, stsc, offsets_box, wide: bool) -> Union[tuple[np.ndarray, np.ndarray], str]:
    """(file offset, sample count) of each chunk, from stco/co64 and stsc."""
    offsets = mb.full_box_array(moov, offsets_box, 0, 1, mb.U64 if wide else mb.U32)
    runs = mb.full_box_array(moov, stsc, 0, 3)
    if offsets is None or runs is None or offsets.shape[0] == 0 or runs.shape[0] == 0:
        return "no chunk table"
    if wide and (offsets >= 2 ** 62).any():
        return "chunk offsets out of range"
    offsets = offsets[:, 0].astype(np.int64)
    chunks = offsets.shape[0]
    first = runs[:, 0].astype(np.int64)
    per_chunk = runs[:, 1].astype(np.int64)
    if first[0] != 1 or (np.diff(first) <= 0).any() or first[-1] > chunks or (per_chunk == 0).any() \
            or (runs[:, 2] != 1).any():
        return "unusual stsc"
    return offsets, np.repeat(per_chunk, np.diff(np.append(first, chunks + 1)))


def sample_positions(moov, stsc, offsets_box, wide: bool, sizes: np.ndarray) -> Union[np.ndarray, str]:
    layout = chunk_layout(moov, stsc, offsets_box, wide)
    if isinstance(layout, str):
        return layout
    offsets, chunk_samples = layout
    starts = np.cumsum(sizes) - sizes  # each sample's offset from the first sample's
    if int(chunk_samples.sum()) != sizes.shape[0]:
        return "stsc and stsz disagree on the sample count"
    if chunk_samples.shape[0] == 1:  # every sample in one chunk (common for remuxed clips)
        return starts + offsets[0]
    chunk_first = np.cumsum(chunk_samples) - chunk_samples
    return starts + np.repeat(offsets - starts[chunk_first], chunk_samples)


def samples_start_inside(moov: bytes, boxes: dict, file_size: int) -> bool:
    """Does every sample of this track start before the end of the file?

    FFmpeg's demuxer reads the tracks interleaved and stops at the first sample that
    starts past the end (whatever its track), so another track's lost samples can end
    the video's packets early. Chunks with a constant sample size are checked per chunk
    (hours of PCM audio have hundreds of millions of samples).
    """
    stsz, stsc = mb.one(boxes, b"stsz"), mb.one(boxes, b"stsc")
    offset_boxes = boxes.get(b"stco", []) + boxes.get(b"co64", [])
    if stsz is None and stsc is None and not offset_boxes:
        return True  # no samples at all
    sample_size, count = (mb.scalar(moov, stsz, 4, ">I"), mb.scalar(moov, stsz, 8, ">I")) if stsz else (0, None)
    if count == 0:
        return True
    if stsz is None or stsc is None or len(offset_boxes) != 1 or count is None:
        return False
    layout = chunk_layout(moov, stsc, offset_boxes[0], b"co64" in boxes)
    if isinstance(layout, str):
        return False
    offsets, chunk_samples = layout
    if int(chunk_samples.sum()) != count:
        return False
    if sample_size:
        if sample_size > MAX_SAMPLE_BYTES:  # FFmpeg's index field turns it negative: the read fails
            return False
        last_starts = offsets + (chunk_samples - 1) * sample_size
        return int(last_starts.max()) < file_size
    sizes = sample_sizes(moov, stsz)
    if isinstance(sizes, str):
        return False
    # Each chunk's last sample starts after the chunk's other samples: one cumsum, no per-sample index.
    before = np.cumsum(sizes) - sizes
    last = np.cumsum(chunk_samples) - 1
    first = last - chunk_samples + 1
    return int((offsets + before[last] - before[first]).max()) < file_size
