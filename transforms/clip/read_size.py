"""FFmpeg's read size for one file, chosen from its first bytes before it is opened.

Every read FFmpeg makes through PyAV's file object is a call into Python
(transforms.storage.readers counts the bytes), so the read size is a trade:
* 16 KiB by default: PyAV's 32 KiB is ~8 % of a one-minute 160x120 clip, when
  the header tier needs only the moov and one packet (~16 KiB);
* 4 KiB for a fragmented MP4 read by the header tier: FFmpeg reads each moof
  with about three buffer fills at open (and the next moof only after a
  seek), so a 2-minute, 2.5 Mbit/s fragmented clip's headers come from 2.5 %
  of its bytes instead of 9 % at 16 KiB;
* 256 KiB for containers that are always demuxed to the end (MKV/WebM,
  MPEG-TS, MPEG-PS: no complete index): at 16 KiB the calls cost ~10 % of a
  one-minute MKV's indexing time. AVI keeps 16 KiB: its index tier reads only
  the header and the idx1 at the end.
Remote objects are read from cached blocks (media_io.BlockCacheReader) whatever
FFmpeg asks for, so they keep the default.
"""

from __future__ import annotations

from transforms.storage.readers import BlockCacheReader
from transforms.clip.mp4.header_tier import looks_fragmented
from transforms.clip.sniff import STREAMING_SNIFF_BYTES, is_streaming_container

FFMPEG_BUFFER_BYTES = 16 * 1024
FRAGMENTED_BUFFER_BYTES = 4 * 1024
STREAMING_BUFFER_BYTES = 256 * 1024


def ffmpeg_buffer_bytes(reader, file_size: int, header_tier: bool) -> int:
    """The read size for the file behind `reader` (a media_io reader at offset 0)."""
    if header_tier and looks_fragmented(reader, file_size):
        return FRAGMENTED_BUFFER_BYTES
    if isinstance(reader, BlockCacheReader):
        return FFMPEG_BUFFER_BYTES
    counted = reader.bytes_read
    head = reader.read(STREAMING_SNIFF_BYTES)
    reader.seek(0)
    reader.bytes_read = counted  # FFmpeg reads these bytes next: count them once
    return STREAMING_BUFFER_BYTES if is_streaming_container(head) else FFMPEG_BUFFER_BYTES
