"""WriteIndex: typed records and frame batches -> Parquet, via Arrow tables.

Rows never travel as per-row dicts: clips and errors are batched and turned
into Arrow tables with the explicit schemas, frames and samples are already
Arrow record batches and are only concatenated into large row groups.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa

from schemas import (
    CLIPS_SCHEMA,
    ERRORS_SCHEMA,
    FRAMES_SCHEMA,
    SAMPLES_SCHEMA,
    clips_to_table,
    errors_to_table,
)

PARQUET_CODEC = "zstd"
FRAME_ROWS_PER_TABLE = 256 * 1024  # one Parquet row group of frames at most this big
RECORDS_PER_TABLE = 4096


def frames_to_table(batches: list[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(batches, schema=FRAMES_SCHEMA)


def samples_to_table(batches: list[pa.RecordBatch]) -> pa.Table:
    return pa.Table.from_batches(batches, schema=SAMPLES_SCHEMA)


class WriteParquetTable(beam.PTransform):
    """Batch elements, convert each batch to an Arrow table, write Parquet files."""

    def __init__(self, path_prefix: str, schema: pa.Schema, to_table, max_batch: int,
                 element_size_fn=lambda _: 1):
        super().__init__()
        self._path_prefix = path_prefix
        self._schema = schema
        self._to_table = to_table
        self._max_batch = max_batch
        self._element_size_fn = element_size_fn

    def expand(self, pcoll):
        return (
            pcoll
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._max_batch,
                                            element_size_fn=self._element_size_fn)
            | "ToArrow" >> beam.Map(self._to_table)
            | "Write" >> beam.io.WriteToParquetBatched(
                self._path_prefix, schema=self._schema, codec=PARQUET_CODEC,
                file_name_suffix=".parquet"))


class WriteIndex(beam.PTransform):
    """{clips, frames, samples, errors} -> SNAPSHOT/<table>/<run_id>-part-*.parquet."""

    def __init__(self, snapshot_dir: str, run_id: str):
        super().__init__()
        self._snapshot_dir = snapshot_dir.rstrip("/")
        self._run_id = run_id

    def _prefix(self, table: str) -> str:
        return f"{self._snapshot_dir}/{table}/{self._run_id}-part"

    def expand(self, outputs):
        return {
            "clips": outputs["clips"] | "WriteClips" >> WriteParquetTable(
                self._prefix("clips"), CLIPS_SCHEMA, clips_to_table, RECORDS_PER_TABLE),
            "errors": outputs["errors"] | "WriteErrors" >> WriteParquetTable(
                self._prefix("errors"), ERRORS_SCHEMA, errors_to_table, RECORDS_PER_TABLE),
            "frames": outputs["frames"] | "WriteFrames" >> WriteParquetTable(
                self._prefix("frames"), FRAMES_SCHEMA, frames_to_table, FRAME_ROWS_PER_TABLE,
                element_size_fn=lambda batch: batch.num_rows),
            "samples": outputs["samples"] | "WriteSamples" >> WriteParquetTable(
                self._prefix("samples"), SAMPLES_SCHEMA, samples_to_table, FRAME_ROWS_PER_TABLE,
                element_size_fn=lambda batch: batch.num_rows),
        }
