"""The snapshots/ + CURRENT layout (before Delta tables) -> Delta tables, on the first run.

The live snapshot's files are linked (locally: hard links, no bytes copied; on GCS:
server-side copies) into DIR/<table>/<run_id>/, the night is committed through the same
intent + roll-forward as any other night (so a run killed while migrating is finished by the
next), and the old names go. runs/*.json (the history of totals) stays as it was; the older
snapshots were only there for going back, which `--as-of` does from now on.
"""

from __future__ import annotations

import json
import os
import sys

from transforms.storage import fs as storage
from transforms.storage.readers import is_remote
from transforms.storage.snapshots import (
    ALL_TABLES,
    COMMITS,
    MATCHES,
    RUN_JSON,
    THUMBS,
    Draft,
    _table_actions,
    history,
    live_run,
    roll_forward,
)

_OLD_LINKS = ("clips", "frames", "samples", "errors", THUMBS, RUN_JSON, "current")


def _old_current(output_dir: str):
    link = os.path.join(output_dir, "current")
    if not is_remote(output_dir) and os.path.islink(link):
        return os.path.basename(os.readlink(link).rstrip("/"))
    try:
        return storage.read_text(storage.join(output_dir, "CURRENT")).strip() or None
    except (FileNotFoundError, OSError):
        return None


def _unlink_old_names(output_dir: str) -> None:
    if is_remote(output_dir):
        return
    for name in _OLD_LINKS:
        path = os.path.join(output_dir, name)
        if os.path.islink(path):
            os.unlink(path)


def _link(source: str, target: str) -> None:
    if not storage.exists(target):
        storage.link_or_copy(source, target)


def migrate_old_layout(output_dir: str, say=None) -> None:
    """Turn the live snapshot into version 0 of each Delta table; remove the old layout."""
    run_id = _old_current(output_dir)
    old = storage.join(output_dir, "snapshots", run_id) if run_id else None
    migrated = live_run(output_dir)
    if old and storage.exists(storage.join(old, RUN_JSON)) and not (migrated and migrated.get("tables")):
        (say or (lambda text: print(f"clipindex: {text}", file=sys.stderr, flush=True)))(
            f"migrating {output_dir} from snapshots/ + CURRENT to Delta tables (live run {run_id}); "
            "older snapshots are removed, runs/*.json stays")
        _unlink_old_names(output_dir)
        draft = Draft(output_dir, run_id, None)
        draft.prepare()
        for table in ALL_TABLES[:-1]:
            for path in storage.list_files(storage.join(old, table), ".parquet"):
                _link(path, storage.join(draft.folder(table), path.rsplit("/", 1)[-1]))
        matches = storage.join(old, ".matches.parquet")
        if storage.exists(matches):
            _link(matches, storage.join(draft.folder(MATCHES), "matches.parquet"))
        storage.makedirs(storage.join(draft.scratch, THUMBS))
        for path in storage.list_files(storage.join(old, THUMBS), ".jpg"):
            _link(path, storage.join(draft.scratch, THUMBS, path.rsplit("/", 1)[-1]))
        run = json.loads(storage.read_text(storage.join(old, RUN_JSON)))
        seq = max((r.get("seq", 0) for r in history(output_dir)), default=0) + 1
        intent = {"run_id": run_id, "seq": seq, "run": run, "thumbs": storage.join(draft.scratch, THUMBS),
                  "tables": {table: _table_actions(draft, table) for table in ALL_TABLES}}
        storage.makedirs(storage.join(output_dir, COMMITS))
        storage.write_bytes(storage.join(output_dir, COMMITS, f"{run_id}.json"), json.dumps(intent).encode())
        roll_forward(output_dir, intent)
    _unlink_old_names(output_dir)
    storage.delete_tree(storage.join(output_dir, "snapshots"))
    if storage.exists(storage.join(output_dir, "CURRENT")):
        storage.delete_file(storage.join(output_dir, "CURRENT"))
