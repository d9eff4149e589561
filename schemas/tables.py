"""Arrow schemas of the output tables, and record -> Arrow conversion.

Readers (DuckDB, pandas, BigQuery) get explicit types: integers for
timestamps and time bases, UTC timestamps, list<string> for warnings.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pyarrow as pa

from schemas.records import ClipRecord, ErrorRecord

# Bump when a column changes meaning or type; written into every file's metadata.
# 2: clips.device_id (--device-from-path), video_stream_count, excerpt_of, excerpt_offset_s
# 3: clip_id is of the path below the archive root, not of the absolute uri (an index of
#    schema 2 is migrated without reading: transforms/launcher/rebase.py); discrepancies gain
#    evidence_id and officer_id, and clip_id there is only ever clipindex's
SCHEMA_VERSION = "3"
SCHEMA_META = _META = {b"clipindex.schema_version": SCHEMA_VERSION.encode()}

CLIPS_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("uri", pa.string()),
        ("size_bytes", pa.int64()),
        ("mtime_s", pa.float64()),
        ("generation", pa.string()),
        ("sha256", pa.string()),
        ("container", pa.string()),
        ("video_codec", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("pix_fmt", pa.string()),
        ("rotation_deg", pa.int16()),
        ("fps", pa.float64()),
        ("fps_num", pa.int32()),
        ("fps_den", pa.int32()),
        ("time_base_num", pa.int32()),
        ("time_base_den", pa.int32()),
        ("frame_count", pa.int64()),
        ("frame_count_source", pa.string()),
        ("header_frame_count", pa.int64()),
        ("duration_s", pa.float64()),
        ("duration_source", pa.string()),
        ("container_duration_s", pa.float64()),
        ("start_s", pa.float64()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
        ("has_audio", pa.bool_()),
        ("audio_codec", pa.string()),
        ("audio_duration_s", pa.float64()),
        ("av_skew_s", pa.float64()),
        ("keyframe_count", pa.int64()),
        ("gap_count", pa.int32()),
        ("max_gap_s", pa.float64()),
        ("gap_total_s", pa.float64()),
        ("nonmonotonic_dts_count", pa.int32()),
        ("corrupt_packet_count", pa.int32()),
        ("vfr", pa.bool_()),
        ("truncated", pa.bool_()),
        ("bytes_read", pa.int64()),
        ("index_wall_s", pa.float64()),
        ("run_id", pa.string()),
        ("warnings", pa.list_(pa.string())),
        ("qa_sampled_frames", pa.int32()),
        ("qa_dark_s", pa.float64()),
        ("qa_frozen_s", pa.float64()),
        ("qa_blurry_s", pa.float64()),
        ("duplicate_of", pa.string()),
        ("device_id", pa.string()),     # from the uri with --device-from-path, else null
        ("video_stream_count", pa.int32()),
        ("excerpt_of", pa.string()),          # clip_id of the longer clip this one is a stretch of
        ("excerpt_offset_s", pa.float64()),   # where in that clip the excerpt starts
    ],
    metadata=_META,
)

FRAMES_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("frame_index", pa.int32()),   # presentation order, from 0
        ("pts", pa.int64()),
        ("dts", pa.int64()),
        ("time_base_num", pa.int32()),
        ("time_base_den", pa.int32()),
        ("pts_s", pa.float64()),
        ("is_keyframe", pa.bool_()),
        ("size_bytes", pa.int32()),
        ("pos", pa.int64()),           # byte offset in the file, when known
    ],
    metadata=_META,
)

# One row per decoded sample frame (only with --decode). Metrics are computed
# on the frame downscaled to 160 px wide, in full-range luma (0-255).
SAMPLES_SCHEMA = pa.schema(
    [
        ("clip_id", pa.string()),
        ("pts_s", pa.float64()),
        ("interval_s", pa.float64()),           # seconds this sample stands for (to the next one)
        ("is_keyframe", pa.bool_()),
        ("mean_luma", pa.float32()),
        ("dark_fraction", pa.float32()),        # share of near-black pixels
        ("sharpness", pa.float32()),            # variance of the Laplacian
        ("change_from_previous", pa.float32()),  # mean |luma change| from the previous sample
        ("phash", pa.int64()),                  # 64-bit DCT perceptual hash, bits as int64
    ],
    metadata=_META,
)

# Per-frame tables: dictionary-encode only the columns that repeat within a clip.
# Parquet writers try a dictionary on every column by default and fall back to
# plain pages once it grows; on timestamps and byte offsets (unique per row) that
# attempt was a third of the write time and left files ~25 % larger (BENCHMARKS.md).
# Only PLAIN, RLE and dictionary encodings are used, which every reader supports.
_REPEATING_COLUMNS = {"clip_id", "time_base_num", "time_base_den", "is_keyframe"}


def parquet_options(schema: pa.Schema) -> dict:
    """pyarrow ParquetWriter / write_table keyword arguments for a clipindex table."""
    options = {"compression": "zstd"}
    if schema.equals(FRAMES_SCHEMA, check_metadata=False) or schema.equals(SAMPLES_SCHEMA,
                                                                           check_metadata=False):
        options["use_dictionary"] = [name for name in schema.names if name in _REPEATING_COLUMNS]
    return options


ERRORS_SCHEMA = pa.schema(
    [
        ("uri", pa.string()),
        ("clip_id", pa.string()),
        ("size_bytes", pa.int64()),
        ("mtime_s", pa.float64()),
        ("generation", pa.string()),
        ("error_kind", pa.string()),
        ("stage", pa.string()),
        ("message", pa.string()),
        ("run_id", pa.string()),
    ],
    metadata=_META,
)

DISCREPANCY_KINDS = (
    "missing",
    "unexpected",
    "unreadable",
    "duration_mismatch",
    "hash_mismatch",
    "duplicate",
    "truncated",
    "ambiguous",      # could match more than one row: the candidates are listed, none is picked
    "excerpt",        # a trimmed copy of another clip (clips.excerpt_of)
    "size_mismatch",  # size differs from the manifest's by more than its rounding
    "time_mismatch",  # recorded_at differs from the manifest's time by more than --time-tolerance-s
)

DISCREPANCY_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("uri", pa.string()),           # the indexed file; for a row only the manifest has, its uri as given
        ("clip_id", pa.string()),       # clipindex's id; null when nothing was indexed (missing, ambiguous)
        ("evidence_id", pa.string()),   # the manifest's clip_id (the export's own id, e.g. Evidence ID)
        ("manifest_row", pa.int64()),   # the manifest's row (1 = header), when one is involved
        ("device_id", pa.string()),     # the index's device, else the manifest's
        ("officer_id", pa.string()),    # the manifest's officer_id
        ("expected_duration_s", pa.float64()),
        ("indexed_duration_s", pa.float64()),
        ("detail", pa.string()),
    ],
    metadata=_META,
)


def _records_to_table(records: Sequence, schema: pa.Schema) -> pa.Table:
    names = schema.names
    columns = {name: [getattr(record, name) for record in records] for name in names}
    return pa.Table.from_pydict(columns, schema=schema)


def clips_to_table(records: Iterable[ClipRecord]) -> pa.Table:
    return _records_to_table(list(records), CLIPS_SCHEMA)


def errors_to_table(records: Iterable[ErrorRecord]) -> pa.Table:
    return _records_to_table(list(records), ERRORS_SCHEMA)

# Near-duplicate verdicts of one run (a hidden file in the new snapshot; transforms.neardup.apply).
MATCHES_SCHEMA = pa.schema([
    ("clip_a", pa.string()), ("clip_b", pa.string()),
    ("verdict", pa.string()),        # same | a_in_b | b_in_a | none (a candidate that did not hold)
    ("offset_s", pa.float64()),      # second t of a is second t + offset_s of b
    ("compared", pa.int32()), ("agreeing", pa.int32()), ("distinctive", pa.int32()),
    ("mean_bits", pa.float32()),
    ("duration_a_s", pa.float64()), ("duration_b_s", pa.float64()),
])
