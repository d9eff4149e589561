"""Where bytes live: local disks and gs:// (files, ranged reads, Parquet tables, snapshots,
checkpoints, the output folder and its lock)."""
