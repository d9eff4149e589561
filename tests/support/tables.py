"""Reading an index's tables in tests the way a warehouse does: with Delta readers, never a glob.

`read_table(DIR, "clips")` reads the table with deltalake at the version DIR/run.json names
(the night clipindex's own readers see); `version="latest"` reads the newest version, what a
plain Delta reader sees. On gs:// the emulator's endpoint is passed to delta-rs's object store.
"""

from __future__ import annotations

import json
import os
from typing import Optional

import pyarrow as pa


def storage_options(path: str) -> Optional[dict]:
    """delta-rs options for a gs:// path on an emulator (STORAGE_EMULATOR_HOST), else None.

    delta-rs's object store has no emulator variable: the endpoint goes in a service account key
    (`gcs_base_url`, with `disable_oauth`), as object_store's own tests against fake-gcs-server do.
    """
    host = os.environ.get("STORAGE_EMULATOR_HOST")
    if not str(path).startswith("gs://") or not host:
        return None
    key = {"gcs_base_url": host.rstrip("/"), "disable_oauth": True, "client_email": "", "private_key": "",
           "private_key_id": ""}
    return {"google_service_account_key": json.dumps(key), "allow_http": "true"}


def _join(index_dir, *parts) -> str:
    return "/".join([str(index_dir).rstrip("/"), *parts])


def run_json(index_dir) -> dict:
    path = _join(index_dir, "run.json")
    if path.startswith("gs://"):
        from transforms.storage import fs

        return json.loads(fs.read_text(path))
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def delta_table(index_dir, table: str, version="live"):
    from deltalake import DeltaTable

    if version == "live":
        version = run_json(index_dir)["tables"][table]
    elif version == "latest":
        version = None
    return DeltaTable(_join(index_dir, table), version=version, storage_options=storage_options(str(index_dir)))


def read_table(index_dir, table: str, columns: Optional[list[str]] = None, filters=None,
               version="live") -> pa.Table:
    """One table of the index as an Arrow table (deltalake)."""
    dataset = delta_table(index_dir, table, version).to_pyarrow_dataset()
    return dataset.to_table(columns=columns, filter=_expression(filters))


def _expression(filters):
    """[(column, "=", value), ...] (pyarrow.parquet's filter form) as a dataset expression."""
    if not filters:
        return None
    import pyarrow.compute as pc

    expression = None
    for column, op, value in filters:
        assert op in ("=", "==")
        term = pc.field(column) == value
        expression = term if expression is None else expression & term
    return expression


def count_rows(index_dir, table: str, version="live") -> int:
    return read_table(index_dir, table, version=version).num_rows


def run_folders(index_dir, table: str) -> set[str]:
    """The run folders in a table's folder (files of runs; `_delta_log` and the like left out)."""
    folder = os.path.join(str(index_dir), table)
    return {name for name in os.listdir(folder)
            if os.path.isdir(os.path.join(folder, name)) and not name.startswith(("_", "."))}
