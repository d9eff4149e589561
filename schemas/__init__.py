"""Record types and Arrow schemas: the contract every stage and reader shares."""

from schemas.records import (
    ERROR_KINDS,
    ClipRecord,
    ErrorRecord,
    FileInfo,
    IndexConfig,
    QaOptions,
)
from schemas.tables import (
    CLIPS_SCHEMA,
    DISCREPANCY_SCHEMA,
    ERRORS_SCHEMA,
    FRAMES_SCHEMA,
    MATCHES_SCHEMA,
    SAMPLES_SCHEMA,
    SCHEMA_VERSION,
    clips_to_table,
    errors_to_table,
    parquet_options,
)

__all__ = [
    "CLIPS_SCHEMA",
    "DISCREPANCY_SCHEMA",
    "ERRORS_SCHEMA",
    "ERROR_KINDS",
    "FRAMES_SCHEMA",
    "MATCHES_SCHEMA",
    "SAMPLES_SCHEMA",
    "SCHEMA_VERSION",
    "ClipRecord",
    "ErrorRecord",
    "FileInfo",
    "IndexConfig",
    "QaOptions",
    "clips_to_table",
    "parquet_options",
    "errors_to_table",
]
