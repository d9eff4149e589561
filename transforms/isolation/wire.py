"""The pipe between a worker and its reader child: pickled messages with out-of-band buffers,
and clip results as Arrow IPC pieces."""

from __future__ import annotations

import fcntl
import pickle
import struct
from typing import BinaryIO

import pyarrow as pa

from schemas import FRAMES_SCHEMA, SAMPLES_SCHEMA
from transforms.clip.index_clip import IndexedClip, IndexResult

_HEADER = struct.Struct(">QI")  # pickle length, out-of-band buffer count
READY = "ready"  # the child's first message: it has read its config and can take clips


def _write_all(stream: BinaryIO, data) -> None:
    # Unbuffered pipes may take a large message (an hour of frames) in parts.
    view = memoryview(data).cast("B")
    while view:
        view = view[stream.write(view):]


def write_message(stream: BinaryIO, obj) -> None:
    """Pickle protocol 5 with out-of-band buffers: Arrow buffers go down the pipe as they are."""
    buffers: list[pickle.PickleBuffer] = []
    payload = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    lengths = struct.pack(f">{len(raws)}Q", *(raw.nbytes for raw in raws))
    _write_all(stream, _HEADER.pack(len(payload), len(raws)) + lengths + payload)
    for raw in raws:
        _write_all(stream, raw)
    stream.flush()


def _read_exact(stream: BinaryIO, size: int) -> bytearray:
    """`size` bytes, read straight into one buffer (no copies of a minute of frames)."""
    data = bytearray(size)
    view = memoryview(data)
    while view:
        got = stream.readinto(view)
        if not got:
            raise EOFError("pipe closed")
        view = view[got:]
    return data


def read_message(stream: BinaryIO):
    size, count = _HEADER.unpack(_read_exact(stream, _HEADER.size))
    lengths = struct.unpack(f">{count}Q", _read_exact(stream, 8 * count)) if count else ()
    payload = _read_exact(stream, size)
    return pickle.loads(payload, buffers=[_read_exact(stream, length) for length in lengths])


def send_result(stream: BinaryIO, result: IndexResult) -> None:
    """One message per clip, then one per frames piece (see transforms.clip.frame_pieces).

    Batches cross the pipe as Arrow IPC messages (~10x cheaper than pickling a
    RecordBatch); each piece is built, sent and dropped before the next, so a
    4-hour clip never exists here as one batch or one message.
    """
    if not isinstance(result, IndexedClip):
        write_message(stream, result)
        return
    pieces = result.frame_pieces
    samples = result.samples.serialize() if result.samples is not None else None
    write_message(stream, (result.clip, len(pieces), samples, result.thumbnail_jpeg, result.storage))
    for piece in pieces:
        write_message(stream, piece.serialize())


def receive_result(stream: BinaryIO) -> IndexResult:
    message = read_message(stream)
    if not isinstance(message, tuple):
        return message
    clip, piece_count, samples, thumbnail, storage = message
    pieces = [pa.ipc.read_record_batch(read_message(stream), FRAMES_SCHEMA) for _ in range(piece_count)]
    return IndexedClip(clip, pieces,
                       pa.ipc.read_record_batch(samples, SAMPLES_SCHEMA) if samples is not None else None,
                       thumbnail, storage)


PIPE_BYTES = 1024 * 1024
DEFAULT_PIPE_BYTES = 64 * 1024
PIPE_SLACK_BYTES = 16 * 1024  # a message's FileInfo and framing beside its prefetched bytes


def widen_pipe(stream) -> int:
    """Ask for PIPE_BYTES; returns the pipe's size now."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    if set_size is None:
        return DEFAULT_PIPE_BYTES
    try:
        fcntl.fcntl(stream.fileno(), set_size, PIPE_BYTES)
    except OSError:
        pass  # a lower pipe-max-size: the default still works, only slower
    try:
        return fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_GETPIPE_SZ", 1032))
    except OSError:
        return DEFAULT_PIPE_BYTES
