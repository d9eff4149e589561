"""Visual QA of one clip: sampled frames -> per-sample metrics and a per-clip summary.

Pure (no Beam): `index_clip` calls `analyze` on a container it has open;
`analyze_uri` opens a file itself (bench, notebooks). Only the previous
sample's small gray picture is kept between frames, so memory stays flat
however long the clip is; the per-sample rows are a few numbers each.

Seconds are accounted per sample as the interval it stands for: from its
time to the next sample's (the last one: to the end of the clip). A dark
sample is not also counted frozen or blurry: a black picture has neither
motion nor edges, and it is already reported as dark. A sample is frozen when
its picture does not change from the previous sample or to the next one.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import SAMPLES_SCHEMA, QaOptions
from transforms.clip.qa import metrics as fm
from transforms.clip.av_open import open_media
from transforms.clip.qa.sampling import SampleMode, SamplingReport, sample_frames
from transforms.clip.stream_choice import choose_video_stream


@dataclasses.dataclass(frozen=True)
class QaSummary:
    sampled_frames: int
    dark_s: float
    frozen_s: float
    blurry_s: float

    def clip_fields(self) -> dict:
        """The ClipRecord fields this summary fills."""
        return {"qa_sampled_frames": self.sampled_frames, "qa_dark_s": self.dark_s,
                "qa_frozen_s": self.frozen_s, "qa_blurry_s": self.blurry_s}


@dataclasses.dataclass
class QaResult:
    samples: pa.RecordBatch          # SAMPLES_SCHEMA, one row per sampled frame
    summary: QaSummary
    strategy: str                    # keyframes | sequential | seek
    warnings: list[str]


@dataclasses.dataclass
class _Columns:
    pts_s: list[float] = dataclasses.field(default_factory=list)
    is_keyframe: list[bool] = dataclasses.field(default_factory=list)
    mean_luma: list[float] = dataclasses.field(default_factory=list)
    dark_fraction: list[float] = dataclasses.field(default_factory=list)
    sharpness: list[float] = dataclasses.field(default_factory=list)
    change: list[Optional[float]] = dataclasses.field(default_factory=list)
    phash: list[int] = dataclasses.field(default_factory=list)


def intervals_s(pts_s: np.ndarray, end_s: float) -> np.ndarray:
    """Seconds each sample stands for: up to the next sample, the last one up to end_s."""
    if pts_s.size == 0:
        return pts_s
    nexts = np.append(pts_s[1:], max(end_s, pts_s[-1]))
    return np.maximum(nexts - pts_s, 0.0)


def summarize(interval: np.ndarray, dark: np.ndarray, sharpness: np.ndarray,
              change: np.ndarray, qa: QaOptions) -> QaSummary:
    """Per-clip seconds of each condition; `change` holds NaN where there is no previous sample."""
    is_dark = dark >= qa.dark_fraction
    lit = ~is_dark
    with np.errstate(invalid="ignore"):
        unchanged = lit & (change < qa.frozen_change)  # NaN compares False: first sample
    # Both pictures of an unchanged pair belong to the freeze: the first frozen
    # sample only differs from the one before it.
    is_frozen = unchanged | np.append(unchanged[1:], False)
    is_blurry = lit & (sharpness < qa.blur_sharpness)
    return QaSummary(sampled_frames=int(interval.size), dark_s=float(interval[is_dark].sum()),
                     frozen_s=float(interval[is_frozen].sum()), blurry_s=float(interval[is_blurry].sum()))


def summarize_samples(samples, qa: QaOptions) -> QaSummary:
    """`summarize` over one clip's stored sample rows (a RecordBatch or Table, in sample order).

    A fresh run and a later recomputation from the samples table (new thresholds, no
    decoding: transforms.launcher.qa_refresh) use these same stored float32 values, so they agree.
    """
    def column(name: str) -> np.ndarray:
        values = samples.column(name)
        return np.asarray(values.to_numpy(zero_copy_only=False), np.float64)

    change = samples.column("change_from_previous")
    change = np.asarray(pc.fill_null(change, np.nan).to_numpy(zero_copy_only=False), np.float64) \
        if len(change) else np.zeros(0)
    return summarize(column("interval_s"), column("dark_fraction"), column("sharpness"), change, qa)


def _to_batch(clip_id: str, cols: _Columns, interval: np.ndarray) -> pa.RecordBatch:
    count = len(cols.pts_s)
    arrays = [
        pa.DictionaryArray.from_arrays(np.zeros(count, np.int32), pa.array([clip_id])).cast(pa.string()),
        pa.array(cols.pts_s, pa.float64()),
        pa.array(interval, pa.float64()),
        pa.array(cols.is_keyframe, pa.bool_()),
        pa.array(cols.mean_luma, pa.float32()),
        pa.array(cols.dark_fraction, pa.float32()),
        pa.array(cols.sharpness, pa.float32()),
        pa.array(cols.change, pa.float32()),
        pa.array(cols.phash, pa.int64()),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=SAMPLES_SCHEMA)


def analyze(container, stream, clip_id: str, mode: SampleMode, qa: QaOptions, start_s: float,
            end_s: float, keyframe_interval_s: Optional[float] = None, on_sample=None) -> QaResult:
    """Decode the clip's samples and measure them. `on_sample(pts_s, gray)` sees each picture
    (e.g. for thumbnails) without this module holding on to any of them."""
    report = SamplingReport()
    cols = _Columns()
    previous: Optional[np.ndarray] = None
    for sample in sample_frames(container, stream, mode, start_s, end_s, keyframe_interval_s, report):
        gray = sample.gray
        cols.pts_s.append(sample.pts_s)
        cols.is_keyframe.append(sample.is_keyframe)
        cols.mean_luma.append(fm.mean_luma(gray))
        cols.dark_fraction.append(fm.dark_fraction(gray, qa.dark_luma))
        cols.sharpness.append(fm.sharpness(gray))
        same_size = previous is not None and previous.shape == gray.shape
        cols.change.append(fm.change(previous, gray) if same_size else None)
        cols.phash.append(fm.phash(gray))
        if on_sample is not None:
            on_sample(sample.pts_s, gray)
        previous = gray
    interval = intervals_s(np.asarray(cols.pts_s, np.float64), end_s)
    samples = _to_batch(clip_id, cols, interval)
    summary = summarize_samples(samples, qa)
    warnings = [f"visual QA decoding stopped early: {report.stopped_early}"] if report.stopped_early else []
    if report.undecodable_packets:
        warnings.append(f"visual QA skipped {report.undecodable_packets} packets that could not be decoded")
    return QaResult(samples=samples, summary=summary,
                    strategy=report.strategy, warnings=warnings)


def analyze_uri(path: str, clip_id: str, mode: SampleMode, qa: Optional[QaOptions] = None,
                on_sample=None) -> QaResult:
    """Open a local file and analyze its video stream (bench and ad-hoc use)."""
    qa = qa or QaOptions()
    with open_media(path) as container:
        stream = choose_video_stream(container)
        time_base = float(stream.time_base)
        start_s = (stream.start_time or 0) * time_base
        end_s = start_s + (stream.duration or 0) * time_base
        keyframe_interval_s = None
        if mode.fps is not None:
            keys = [e.timestamp for e in stream.index_entries if e.is_keyframe] if stream.index_entries else []
            if len(keys) > 1:
                keyframe_interval_s = (keys[-1] - keys[0]) * time_base / (len(keys) - 1)
        return analyze(container, stream, clip_id, mode, qa, start_s, end_s, keyframe_interval_s, on_sample)


def analyze_reader(reader, clip_id: str, mode: SampleMode, qa: QaOptions, start_s: float, end_s: float,
                   keyframe_interval_s: Optional[float], on_sample=None) -> QaResult:
    """Analyze a clip through the reader `index_clip` already holds (its bytes stay counted).

    A fresh container: the timeline pass may have demuxed to the end, and
    rewinding a demuxer is less dependable across formats than reopening it.
    """
    reader.seek(0)
    with open_media(reader) as container:
        return analyze(container, choose_video_stream(container), clip_id, mode, qa, start_s, end_s,
                       keyframe_interval_s, on_sample)
