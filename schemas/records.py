"""Typed records that flow between pipeline stages.

Every stage emits one of these, never a dict whose keys may or may not be
there: a reader can rely on each field existing, with the unit in its name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Optional

# Why an input could not be indexed. Each becomes a counter and an error row;
# README.md ("Error kinds") says when each is used.
ERROR_KINDS = (
    "not_found",          # gone between matching and reading, or dangling symlink
    "io_error",           # the storage failed to read it (EIO, ESTALE, a remote read that keeps failing)
    "permission_denied",  # exists but cannot be opened for reading
    "not_a_file",         # directory, FIFO, socket, device, symlink loop
    "empty_file",         # zero bytes
    "not_media",          # FFmpeg recognises no container in the bytes
    "no_video_stream",    # a container without video (e.g. audio only)
    "corrupt",            # container recognised, but no frame can be read
    "timeout",            # indexing took longer than the clip's time budget
    "crash",              # the worker process died (e.g. SIGSEGV inside FFmpeg)
    "internal",           # a bug in clipindex: reported, never swallowed
)


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """One matched input, as the lister saw it (before anything is read)."""

    uri: str
    size_bytes: Optional[int]
    mtime_s: Optional[float]
    generation: Optional[str] = None  # GCS object generation; None on local disks

    def to_json(self) -> str:
        """One line of JSON (uris may hold any character, newlines included)."""
        # ASCII escapes keep undecodable file names (surrogate-escaped bytes) intact.
        return json.dumps(dataclasses.asdict(self))

    @staticmethod
    def from_json(line: str) -> "FileInfo":
        return FileInfo(**json.loads(line))


@dataclasses.dataclass(frozen=True)
class QaOptions:
    """Thresholds of the decoded-frame checks (docs/visual-qa.md explains each default).

    Luma values are full range (0-255) on frames downscaled to 160 px wide.
    """

    dark_luma: int = 32               # a pixel at or below this luma is near-black
    dark_fraction: float = 0.9        # a picture is dark when this share of pixels is near-black
    frozen_change: float = 1.0        # mean |luma change| from the previous sample below this: frozen
    blur_sharpness: float = 50.0      # variance of the Laplacian below this: blurry
    dup_max_bits: int = 10            # phashes this close (of 64 bits) show the same picture
    dup_min_fraction: float = 0.8     # share of aligned samples that must match for a duplicate
    dup_max_offset_s: float = 0.5     # samples this far apart in time may be aligned
    dup_min_samples: int = 3          # fewer comparable samples than this: never a duplicate


@dataclasses.dataclass(frozen=True)
class IndexConfig:
    """Per-clip options, fixed for a run and shipped to every worker."""

    tier: str = "auto"              # auto | header | packets
    decode: str = "none"            # none | keyframes | fps:N
    hash: str = "sha256"            # sha256 | none
    gap_factor: float = 1.5         # a gap is a jump > gap_factor nominal intervals
    clip_timeout_s: float = 120.0   # base time budget per clip (scaled by size)
    isolation: str = "process"      # process | none
    children: int = 1               # isolated child processes per Beam worker (DoFn instance)
    gcs_inflight: int = 16          # gs:// clips whose bytes a worker prefetches at once (0: none)
    max_pixels: int = 16384 * 16384  # refuse headers claiming more than this
    qa: QaOptions = QaOptions()      # thresholds of the decoded-frame checks (with --decode)
    thumbnails: bool = False         # write a JPEG contact sheet per clip (with --decode)
    thumbs_dir: Optional[str] = None  # where: SNAPSHOT/thumbs (set by the launcher)
    device_from_path: Optional[str] = None  # regex with a named group `device_id`, on each uri
    archive_root: Optional[str] = None  # clip ids are of the path below it (storage.archive_root)
    run_id: str = ""
    progress_dir: Optional[str] = None


@dataclasses.dataclass
class ClipRecord:
    """One readable clip: what the header claims and what was measured."""

    clip_id: str
    uri: str
    size_bytes: int
    mtime_s: Optional[float]
    generation: Optional[str]
    sha256: Optional[str]
    container: str
    video_codec: str
    width: int
    height: int
    pix_fmt: Optional[str]
    rotation_deg: int
    fps: Optional[float]              # nominal (average) frame rate
    fps_num: Optional[int]
    fps_den: Optional[int]
    time_base_num: int
    time_base_den: int
    frame_count: int                  # counted, never estimated
    frame_count_source: str           # index | packets | decode
    header_frame_count: Optional[int]  # what the container claims (nb_frames)
    duration_s: float                 # first presented frame to end of the last
    duration_source: str              # index | packets | decode
    container_duration_s: Optional[float]  # what the container claims
    start_s: Optional[float]          # pts of the first presented frame
    recorded_at: Optional[dt.datetime]  # creation_time tag, UTC
    has_audio: bool
    audio_codec: Optional[str]
    audio_duration_s: Optional[float]
    av_skew_s: Optional[float]        # audio length minus video length
    keyframe_count: int
    gap_count: int
    max_gap_s: float
    gap_total_s: float
    nonmonotonic_dts_count: int
    corrupt_packet_count: int
    vfr: bool
    truncated: bool
    bytes_read: int                   # bytes FFmpeg pulled from the file
    index_wall_s: float
    run_id: str
    warnings: list[str] = dataclasses.field(default_factory=list)
    # Visual QA (only with --decode); None when not sampled.
    qa_sampled_frames: Optional[int] = None
    qa_dark_s: Optional[float] = None
    qa_frozen_s: Optional[float] = None
    qa_blurry_s: Optional[float] = None
    duplicate_of: Optional[str] = None
    device_id: Optional[str] = None   # from the uri with --device-from-path
    video_stream_count: Optional[int] = None  # real video streams in the file (cover art not counted)
    excerpt_of: Optional[str] = None        # clip_id of the longer clip this one is a stretch of
    excerpt_offset_s: Optional[float] = None  # where in that clip it starts


@dataclasses.dataclass
class ErrorRecord:
    """One input that could not be indexed, with a named reason."""

    uri: str
    clip_id: str
    size_bytes: Optional[int]
    mtime_s: Optional[float]
    generation: Optional[str]
    error_kind: str
    stage: str      # match | open | probe | timeline | hash | isolate | index (internal)
    message: str
    run_id: str

    def __post_init__(self) -> None:
        if self.error_kind not in ERROR_KINDS:
            raise ValueError(f"unknown error_kind {self.error_kind!r}")

