"""The lease lock of an index folder (local file or GCS object)."""
