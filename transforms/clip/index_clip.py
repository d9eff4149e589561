"""Index one clip: FileInfo -> IndexedClip (record, frames, samples) or ErrorRecord.

Pure with respect to Beam: the DoFn in `transforms.beam.index_clips` and the
isolated worker in `transforms.isolation.pool` both call `index_file`.
"""

from __future__ import annotations

import dataclasses
import os
import time
import traceback
from typing import Iterable, Optional, Union

import av
import pyarrow as pa

from schemas import FRAMES_SCHEMA, ClipRecord, ErrorRecord, FileInfo, IndexConfig
from transforms.clip.av_open import open_media
from transforms.clip.claims import header_warnings, hidden_frames_warning, is_truncated, truncation_warning
from transforms.clip.container_name import specific_container
from transforms.clip.continuity import Continuity, measure
from transforms.clip.devices import device_from_uri
from transforms.clip.frame_pieces import FramePieces
from transforms.clip.mp4.boxes import read_moov
from transforms.clip.mp4.header_tier import sample_table_of
from transforms.storage.archive_root import clip_id_for
from transforms.storage.readers import InputProblem, file_size_now, is_remote, open_input, os_error_kind, sha256_of
from transforms.clip.packet_tier import expected_packets, from_packets
from transforms.clip.probe import StreamFacts, probe
from transforms.clip.read_memory import ReadMemory
from transforms.clip.rotation import read_rotation_deg
from transforms.clip.read_size import ffmpeg_buffer_bytes
from transforms.clip.sniff import is_still_image, looks_like_media, video_header_problem
from transforms.clip.stream_choice import choose_video_stream
from transforms.clip.qa.contact_sheet import ContactSheet
from transforms.clip.timeline import Timeline, from_index, from_table
from transforms.clip.qa.analyze import QaResult, SampleMode, analyze_reader


@dataclasses.dataclass
class IndexedClip:
    """A readable clip: its record, its frames in pieces, and (with --decode) one samples batch.

    `frame_pieces` is a FramePieces (each piece built when asked for) in the process that
    read the clip, a list of record batches after the isolation pipe; either way no piece
    holds more than FRAME_PIECE_ROWS rows, so a 4-hour clip never becomes one huge batch.
    """

    clip: ClipRecord
    frame_pieces: Iterable[pa.RecordBatch]
    samples: Optional[pa.RecordBatch] = None
    thumbnail_jpeg: Optional[bytes] = None  # with --thumbnails; written by the Beam worker
    storage: Optional[dict] = None  # object storage: {"requests": GETs, "bytes": fetched} for this clip

    @property
    def frames(self) -> pa.Table:
        """All frames as one table: for tests and short clips, not for a pipeline."""
        return pa.Table.from_batches(list(self.frame_pieces), schema=FRAMES_SCHEMA)


IndexResult = Union[IndexedClip, ErrorRecord]


def _ids(config: IndexConfig) -> tuple:
    return config.run_id, config.archive_root


def error_record(info: FileInfo, kind: str, stage: str, message: str, run_id: str,
                 archive_root: Optional[str] = None) -> ErrorRecord:
    one_line = " ".join(str(message).split())[:500]
    return ErrorRecord(uri=info.uri, clip_id=clip_id_for(info.uri, archive_root), size_bytes=info.size_bytes,
                       mtime_s=info.mtime_s, generation=info.generation, error_kind=kind,
                       stage=stage, message=one_line, run_id=run_id)


def ffmpeg_message(exc: av.FFmpegError) -> str:
    """FFmpeg's own words, without PyAV's "<none>" file-name suffix."""
    return f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"


class _Failure(Exception):
    def __init__(self, kind: str, stage: str, message: str):
        super().__init__(message)
        self.kind, self.stage = kind, stage


def _note_size_change(uri: str, size_bytes: int, warnings: list[str]) -> None:
    if is_remote(uri):
        return  # object-store objects are immutable: a rewrite is a new generation, not growth
    now = file_size_now(uri)
    if now is not None and now != size_bytes:
        warnings.append(f"file changed size while being read ({size_bytes} -> {now} bytes); "
                        f"indexed the first {size_bytes} bytes")


def _open_container(reader, buffer_bytes: int) -> av.container.InputContainer:
    try:
        # Any tag bytes (Latin-1, garbled): open_media replaces what is not UTF-8.
        container = open_media(reader, buffer_size=buffer_bytes)
    except av.FFmpegError as exc:
        reader.seek(0)
        kind = "corrupt" if looks_like_media(reader.read(512)) else "not_media"
        raise _Failure(kind, "open", ffmpeg_message(exc)) from None
    format_name = container.format.name
    if is_still_image(format_name):
        container.close()
        raise _Failure("not_media", "open", f"a still image ({format_name}), not a video")
    return container


def _timeline(container, stream, facts: StreamFacts, file_size: int, config: IndexConfig,
              warnings: list[str], moov: Optional[bytes], reader) -> tuple[Timeline, int]:
    """Pick the tier; returns the timeline and how many index entries lie past EOF."""
    beyond_eof = 0
    if config.tier in ("auto", "header"):
        is_mp4 = facts.container.startswith("mov")
        if is_mp4:  # MP4/MOV: the sample table (or fragment runs) turned into FFmpeg's packets
            timeline, verdict = from_table(sample_table_of(reader, stream, file_size, moov), file_size)
        else:
            timeline, verdict = from_index(stream, facts, file_size)
        beyond_eof = verdict.beyond_eof_count
        if timeline is not None:
            return timeline, beyond_eof
        if config.tier == "header" or is_mp4:
            warnings.append(f"header tier not usable ({verdict.reason}); used packets")
    return from_packets(container, stream, expected_packets(facts, file_size)), beyond_eof


def _visual_qa(reader, clip_id: str, config: IndexConfig, timeline: Timeline, cont: Continuity,
               tb: float, duration_s: float) -> tuple[QaResult, Optional[bytes]]:
    """QA of the sampled frames, and the contact sheet's JPEG bytes with --thumbnails."""
    start_s = cont.start_ts * tb if cont.start_ts is not None else 0.0
    keyframes = int(timeline.is_keyframe.sum())
    keyframe_interval_s = duration_s / keyframes if keyframes else None
    sheet = ContactSheet() if config.thumbnails and config.thumbs_dir else None
    qa = analyze_reader(reader, clip_id, SampleMode.parse(config.decode), config.qa, start_s,
                        start_s + duration_s, keyframe_interval_s, sheet.add if sheet else None)
    return qa, (sheet.jpeg() if sheet is not None else None)


@dataclasses.dataclass
class _Read:
    """What opening and walking a clip gave: stream facts, the frame timeline and its tier."""

    facts: StreamFacts
    timeline: Timeline
    beyond_eof: int  # index entries listed past the end of the file
    container_name: str  # mp4, mov, webm, ... (facts.container is FFmpeg's demuxer family)


def _read_timeline(config: IndexConfig, reader, file_size: int, warnings: list[str]) -> _Read:
    """Open, probe, read the timeline (header tier or packets), and the rotation."""
    memory = ReadMemory(reader)  # the moov FFmpeg reads at open is read once, not twice
    container = _open_container(memory, ffmpeg_buffer_bytes(reader, file_size, config.tier != "packets"))
    memory.stop_recording()
    with container:
        problem = video_header_problem(container, config.max_pixels)
        if problem is not None:
            raise _Failure(problem[0], "probe", problem[1])
        stream = choose_video_stream(container)
        facts = probe(container, stream)
        name = specific_container(facts.container, container.metadata.get("major_brand"), memory.recall(0, 64))
        track_id = stream.id
        # The packets tier needs only the track header from it (rotation): box headers are
        # walked then instead of reading the whole moov a second time.
        moov = read_moov(memory) if facts.container.startswith("mov") and config.tier != "packets" else None
        timeline, beyond_eof = _timeline(container, stream, facts, file_size, config, warnings, moov, memory)
        memory.forget()
    if timeline.frame_count == 0:
        detail = f" ({timeline.read_error})" if timeline.read_error else ""
        raise _Failure("corrupt", "timeline", f"no video packet could be read{detail}")
    if facts.container.startswith("mov"):
        facts = dataclasses.replace(facts, rotation_deg=read_rotation_deg(reader, moov, track_id))
    return _Read(facts, timeline, beyond_eof, name)


def _check_claims(read: _Read, cont: Continuity, warnings: list[str]) -> bool:
    """Is the clip truncated? Adds the warnings about what the header claims and what was read."""
    facts, timeline = read.facts, read.timeline
    tb = float(facts.time_base)
    duration_s, interval_s = cont.duration_ts * tb, cont.nominal_interval_ts * tb
    truncated = is_truncated(facts, timeline.frame_count, read.beyond_eof, duration_s, interval_s)
    if truncated:
        warnings.append(truncation_warning(facts, timeline.frame_count, duration_s))
    else:
        warnings.extend(header_warnings(facts, timeline.frame_count, duration_s, interval_s))
    if hidden := hidden_frames_warning(cont.hidden_count, interval_s):
        warnings.append(hidden)
    if timeline.read_error:
        warnings.append(f"demuxing stopped early: {timeline.read_error}")
    if cont.missing_ts_count:
        warnings.append(f"{cont.missing_ts_count} packets carry no timestamp")
    if facts.recorded_at_warning:
        warnings.append(facts.recorded_at_warning)
    return truncated


def _hash(info: FileInfo, config: IndexConfig, reader, file_size: int, warnings: list[str]) -> Optional[str]:
    sha256 = sha256_of(reader) if config.hash == "sha256" else None
    if config.hash == "sha256" and sha256 is None:
        warnings.append(f"file shrank while being read ({file_size} bytes when opened); no sha256")
    _note_size_change(info.uri, file_size, warnings)
    return sha256


def _clip_record(info: FileInfo, config: IndexConfig, read: _Read, cont: Continuity, *, clip_id: str,
                 file_size: int, truncated: bool, qa: Optional[QaResult], sha256: Optional[str],
                 bytes_read: int, warnings: list[str], started: float) -> ClipRecord:
    facts, timeline = read.facts, read.timeline
    tb = float(facts.time_base)
    duration_s = cont.duration_ts * tb
    av_skew = (facts.audio_duration_s - duration_s) if facts.audio_duration_s is not None else None
    return ClipRecord(
        clip_id=clip_id, uri=info.uri, size_bytes=file_size, mtime_s=info.mtime_s,
        generation=info.generation, sha256=sha256, container=read.container_name,
        video_codec=facts.video_codec, width=facts.width, height=facts.height,
        pix_fmt=facts.pix_fmt, rotation_deg=facts.rotation_deg,
        fps=float(facts.rate) if facts.rate else None,
        fps_num=facts.rate.numerator if facts.rate else None,
        fps_den=facts.rate.denominator if facts.rate else None,
        time_base_num=facts.time_base.numerator, time_base_den=facts.time_base.denominator,
        frame_count=timeline.frame_count, frame_count_source=timeline.source,
        header_frame_count=facts.header_frame_count, duration_s=duration_s,
        duration_source=timeline.source, container_duration_s=facts.container_duration_s,
        start_s=cont.start_ts * tb if cont.start_ts is not None else None,
        recorded_at=facts.recorded_at, has_audio=facts.has_audio, audio_codec=facts.audio_codec,
        audio_duration_s=facts.audio_duration_s, av_skew_s=av_skew,
        keyframe_count=int(timeline.is_keyframe.sum()), gap_count=cont.gap_count,
        max_gap_s=cont.max_gap_ts * tb, gap_total_s=cont.gap_total_ts * tb,
        nonmonotonic_dts_count=cont.nonmonotonic_dts_count,
        corrupt_packet_count=timeline.corrupt_packet_count, vfr=cont.vfr, truncated=truncated,
        bytes_read=bytes_read, index_wall_s=time.perf_counter() - started,
        run_id=config.run_id, warnings=warnings, **(qa.summary.clip_fields() if qa else {}),
        device_id=device_from_uri(info.uri, config.device_from_path),
        video_stream_count=facts.video_stream_count,
    )


def _index_open_file(info: FileInfo, config: IndexConfig, reader, file_size: int,
                     started: float) -> IndexedClip:
    warnings: list[str] = []
    read = _read_timeline(config, reader, file_size, warnings)
    facts, timeline = read.facts, read.timeline
    cont = measure(timeline, facts.rate, facts.time_base, config.gap_factor,
                   facts.header_duration_ts if timeline.source == "index" else None)
    truncated = _check_claims(read, cont, warnings)
    clip_id = clip_id_for(info.uri, config.archive_root)
    qa, thumbnail = None, None
    if config.decode != "none":
        tb = float(facts.time_base)
        qa, thumbnail = _visual_qa(reader, clip_id, config, timeline, cont, tb, cont.duration_ts * tb)
        warnings.extend(qa.warnings)
    bytes_read = reader.bytes_read  # FFmpeg's reads (index, QA); the hash pass is separate
    sha256 = _hash(info, config, reader, file_size, warnings)
    record = _clip_record(info, config, read, cont, clip_id=clip_id, file_size=file_size, truncated=truncated,
                          qa=qa, sha256=sha256, bytes_read=bytes_read, warnings=warnings, started=started)
    return IndexedClip(record, FramePieces(clip_id, timeline, cont, facts.time_base), qa.samples if qa else None,
                       thumbnail)


def index_file(info: FileInfo, config: IndexConfig, prefetched=None) -> IndexResult:
    """Index one input. Never raises for bad media: every failure is an ErrorRecord.
    `prefetched`: bytes of a gs:// object the worker already read (transforms.storage.gcs_prefetch)."""
    started = time.perf_counter()
    try:
        reader, file_size = open_input(info.uri, info, prefetched)
    except InputProblem as problem:
        return error_record(info, problem.error_kind, "open", str(problem), *_ids(config))
    try:
        with reader:
            result = _index_open_file(info, config, reader, file_size, started)
            if hasattr(reader, "requests"):
                result.storage = {"requests": reader.requests, "bytes": reader.bytes_read}
            return result
    except _Failure as failure:
        return error_record(info, failure.kind, failure.stage, str(failure), *_ids(config))
    except InputProblem as problem:
        return error_record(info, problem.error_kind, "hash", str(problem), *_ids(config))
    except av.FFmpegError as exc:
        return error_record(info, "corrupt", "timeline", ffmpeg_message(exc), *_ids(config))
    except OSError as exc:  # reading the input failed: EIO, ESTALE, a remote read that keeps failing
        return error_record(info, os_error_kind(exc), "read", f"{type(exc).__name__}: {exc}", *_ids(config))
    except Exception as exc:  # noqa: BLE001 - a bug met on hostile input must cost one row, not the run
        return error_record(info, "internal", "index", _bug_report(exc), *_ids(config))


def _bug_report(exc: Exception) -> str:
    """One line that lets a maintainer find the bug: the exception and where it was raised."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {exc} (at {os.path.basename(frame.filename)}:{frame.lineno} in {frame.name})"
