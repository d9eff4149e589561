"""The index's Delta Lake tables at stable paths, and the all-or-nothing commit of a night.

Layout of an index DIR (docs/tables.md has the readers' side):

    DIR/clips, frames, samples, errors, matches     Delta tables (stable paths)
        _delta_log/<version>.json                   one commit per table per night
        <run_id>/part-*.parquet                     the files a run wrote (never rewritten)
        _symlink_format_manifest/manifest           the live files, for plain-Parquet engines
    DIR/run.json              the live run: its summary and each table's version (clips@N, ...)
    DIR/runs/<run_id>.json    history of every committed run, versions included (kept forever)
    DIR/thumbs/<clip_id>.jpg  contact sheets of the live clips (--thumbnails; not versioned)
    DIR/_commit/<run_id>.json a night's commit while it is being applied (rolled forward)
    DIR/_work/<run_id>/       a run's scratch files (inputs, worker versions, staged sheets)
    DIR/.lock                 held while a run writes

A night writes its files into DIR/<table>/<run_id>/ (invisible: no commit names them),
then `commit` writes the whole night down as DIR/_commit/<run_id>.json (every table's add
and remove actions): from then on the night is decided. The tables are committed in a fixed
order (COMMIT_ORDER, clips last), then runs/<run_id>.json and DIR/run.json name the versions:
DIR/run.json is the commit point for clipindex's own readers (`live_snapshot`), which read
each table at the version it names, never a mix of nights. A run killed anywhere in between is
rolled forward by the next one (`finish_interrupted_commit`): each table is committed only if
its log has no transaction of that run yet (the run's sequence number is Delta's app
transaction version), so nothing is committed twice and no table keeps half a night.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import secrets
from typing import Optional

from schemas import CLIPS_SCHEMA, ERRORS_SCHEMA, FRAMES_SCHEMA, MATCHES_SCHEMA, SAMPLES_SCHEMA, SCHEMA_VERSION
from transforms.faults import fail_point
from transforms.storage import delta_log
from transforms.storage import fs as storage
from transforms.storage.readers import is_remote

TABLES = ("clips", "frames", "samples", "errors")  # what the Beam writer writes
CARRIED_TABLES = ("clips", "frames", "samples")  # errors are always retried, never carried
MATCHES = "matches"  # the near-duplicate stage's verdicts of the night (replaced every night)
ALL_TABLES = (*TABLES, MATCHES)
# Clips last: once a plain reader of the latest versions sees tonight's clips, every other
# table already holds tonight's rows (docs/tables.md, "between two commits").
COMMIT_ORDER = ("errors", "samples", "frames", MATCHES, "clips")
SCHEMAS = {"clips": CLIPS_SCHEMA, "frames": FRAMES_SCHEMA, "samples": SAMPLES_SCHEMA, "errors": ERRORS_SCHEMA,
           MATCHES: MATCHES_SCHEMA}
THUMBS = "thumbs"
KEEP_DAYS = 30.0  # --keep-days: files every version of the last 30 days reads are kept
RUN_JSON = "run.json"
COMMITS = "_commit"
WORK = "_work"
MANIFEST = "_symlink_format_manifest"
# A table folder holds the files of older versions too: a plain-Parquet read of the folder
# would count them. This file is not Parquet, so such a read fails, naming it (docs/tables.md).
NOT_PARQUET = "NOT-PARQUET-this-is-a-Delta-table-see-docs-tables.md.txt"
_NOT_PARQUET_TEXT = (b"This folder is a Delta Lake table: it holds the files of older versions too, so reading\n"
                     b"its Parquet files directly counts rows twice. Read it with a Delta reader (deltalake,\n"
                     b"Polars read_delta, DuckDB over deltalake, Spark, BigQuery BigLake) or read the files\n"
                     b"listed in _symlink_format_manifest/manifest. See docs/tables.md.\n")

_TEMPORARY_NAME = re.compile(r"\.tmp-\d+$")


class OutputProblem(Exception):
    """The output directory cannot be used (exit 2)."""


class OldLayout(OutputProblem):
    """DIR holds the snapshots/ + CURRENT layout of clipindex before Delta tables."""


def new_run_id(now: Optional[dt.datetime] = None) -> str:
    now = now or dt.datetime.now(dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def check_writable(output_dir: str) -> None:
    """Fail early (before anything is written) if DIR cannot be created or written."""
    if is_remote(output_dir):
        from transforms.storage.gcs import bucket_exists

        if output_dir.startswith("gs://") and not bucket_exists(output_dir):
            raise OutputProblem(f"output {output_dir}: bucket does not exist or is not accessible")
        return
    probe = os.path.abspath(output_dir)
    if os.path.exists(probe) and not os.path.isdir(probe):
        raise OutputProblem(f"output {output_dir} exists and is not a directory")
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise OutputProblem(f"output {output_dir} is not writable ({probe} does not allow writing)")


def table_path(output_dir: str, table: str) -> str:
    return storage.join(output_dir, table)


@dataclasses.dataclass
class Snapshot:
    """One committed night: every table at the version that night's run.json names."""

    root: str
    run: dict
    states: dict  # table -> delta_log.TableState
    # table -> files read instead of the version's: the night rewritten for an archive that moved
    # (transforms.launcher.rebase); the states stay what the tables hold, so the commit's actions
    # are still taken against them.
    rewritten: dict = dataclasses.field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.run["run_id"]

    def files(self, table: str) -> list[str]:
        if table in self.rewritten:
            return list(self.rewritten[table])
        state = self.states.get(table)
        return state.paths() if state is not None else []


def _read_json(path: str) -> Optional[dict]:
    try:
        return json.loads(storage.read_text(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


def snapshot_of(output_dir: str, run: dict) -> Snapshot:
    """The tables at the versions a committed run recorded."""
    versions = run.get("tables") or {}
    states = {table: delta_log.read_state(table_path(output_dir, table), version)
              for table, version in versions.items() if version is not None and version >= 0}
    return Snapshot(output_dir, run, states)


def live_run(output_dir: str) -> Optional[dict]:
    return _read_json(storage.join(output_dir, RUN_JSON))


def live_snapshot(output_dir: str) -> Optional[Snapshot]:
    """The live night (DIR/run.json), or None when DIR holds no committed run."""
    run = live_run(output_dir)
    if run is None or "tables" not in run:
        if has_old_layout(output_dir):
            raise OldLayout(f"{output_dir} holds the old snapshots/ layout of clipindex; `clipindex index "
                            f"... --output {output_dir}` (its next nightly run) migrates it to Delta tables")
        return None
    return snapshot_of(output_dir, run)


def current_run_id(output_dir: str) -> Optional[str]:
    run = live_run(output_dir)
    return run.get("run_id") if run else None


def has_old_layout(output_dir: str) -> bool:
    if not is_remote(output_dir) and os.path.islink(os.path.join(output_dir, "current")):
        return True
    return storage.exists(storage.join(output_dir, "CURRENT"))


def history(output_dir: str) -> list[dict]:
    """Every committed run (DIR/runs/*.json), oldest first."""
    runs = [_read_json(path) for path in storage.list_files(storage.join(output_dir, "runs"), ".json")]
    return [run for run in runs if run]


@dataclasses.dataclass
class Draft:
    """The night being built: the previous night's files it keeps, plus the files it writes
    into DIR/<table>/<run_id>/. Nothing here is visible to readers until `commit`."""

    root: str
    run_id: str
    previous: Optional[Snapshot]
    kept: dict = dataclasses.field(default_factory=dict)  # table -> previous files kept by reference

    @property
    def scratch(self) -> str:
        return storage.join(self.root, WORK, self.run_id)

    def folder(self, table: str) -> str:
        return storage.join(self.root, table, self.run_id)

    def own(self, table: str, path: str) -> bool:
        return path.startswith(self.folder(table).rstrip("/") + "/")

    def files(self, table: str) -> list[str]:
        written = storage.list_files(self.folder(table), ".parquet")
        return [*self.kept.get(table, []), *written]

    def keep(self, table: str, path: str) -> None:
        """Carry a previous file forward as it is (by reference: no byte is copied)."""
        self.kept.setdefault(table, []).append(path)

    def drop(self, table: str, path: str) -> None:
        """Leave a file out of this night (a previous one stays in the older versions)."""
        if path in self.kept.get(table, ()):
            self.kept[table].remove(path)
        if self.own(table, path):  # this run's (written, or rebased and kept): no version names it
            storage.delete_file(path)

    def replacement(self, table: str, path: str, name: str) -> str:
        """Where a rewritten version of `path` goes: itself if this run wrote it (a rebased file it
        keeps included), else a new file of this run (a previous night's file is never modified:
        older versions read it)."""
        if self.own(table, path):
            return path
        self.kept[table].remove(path)
        return storage.join(self.folder(table), name)

    def prepare(self) -> None:
        for table in ALL_TABLES:
            storage.makedirs(self.folder(table))
        storage.makedirs(self.scratch)


def new_draft(output_dir: str, run_id: str, previous: Optional[Snapshot]) -> Draft:
    draft = Draft(output_dir, run_id, previous)
    draft.prepare()
    return draft


# ---- the commit ---------------------------------------------------------------------------

def _relative(output_dir: str, table: str, path: str) -> str:
    return path[len(table_path(output_dir, table).rstrip("/")) + 1:]


def _table_actions(draft: Draft, table: str) -> dict:
    """Tonight's add (with statistics) and remove actions of one table, against the previous night."""
    root = table_path(draft.root, table)
    before = draft.previous.states.get(table) if draft.previous else None
    live = dict(before.files) if before else {}
    now = {_relative(draft.root, table, path): path for path in draft.files(table)}
    adds = [delta_log.add_action(root, now[rel]) for rel in sorted(now) if rel not in live]
    removes = [delta_log.remove_action(rel, live[rel]) for rel in sorted(live) if rel not in now]
    schema = delta_log.schema_string(SCHEMAS[table])
    metadata = None
    if before is None or before.schema_string() != schema:  # a new table, or SCHEMA_VERSION moved
        old_id = before.metadata["id"] if before and before.metadata else None
        metadata = delta_log.metadata_action(SCHEMAS[table], table, f"clipindex {table} (schema "
                                             f"{SCHEMA_VERSION})", old_id)
    return {"actions": ([metadata] if metadata else []) + removes + adds}


def commit(draft: Draft, summary: dict, keep_days: float = KEEP_DAYS) -> dict:
    """Commit the night: every table, then run.json. Returns the run as recorded (with versions)."""
    previous_seq = draft.previous.run.get("seq", 0) if draft.previous else _last_seq(draft.root)
    intent = {"run_id": draft.run_id, "seq": previous_seq + 1, "run": summary,
              "thumbs": storage.join(draft.scratch, THUMBS),
              "tables": {table: _table_actions(draft, table) for table in ALL_TABLES}}
    fail_point("commit:before_intent")
    storage.makedirs(storage.join(draft.root, COMMITS))
    storage.write_bytes(_intent_path(draft.root, draft.run_id), json.dumps(intent).encode("utf-8"))
    fail_point("commit:before_tables")
    run = roll_forward(draft.root, intent)
    vacuum(draft.root, keep_days)
    return run


def _last_seq(output_dir: str) -> int:
    return max((run.get("seq", 0) for run in history(output_dir)), default=0)


def is_decided(output_dir: str, run_id: str) -> bool:
    """Is this run's night committed, or written down to be (rolled forward if cut short)?"""
    return storage.exists(_intent_path(output_dir, run_id)) or \
        storage.exists(storage.join(output_dir, "runs", f"{run_id}.json"))


def _intent_path(output_dir: str, run_id: str) -> str:
    return storage.join(output_dir, COMMITS, f"{run_id}.json")


def _commit_table(output_dir: str, table: str, intent: dict) -> int:
    """The table's version holding this run's night: found in its log, or committed now."""
    path = table_path(output_dir, table)
    state = delta_log.read_state(path)
    if intent["seq"] in state.run_versions:
        return state.run_versions[intent["seq"]]  # committed before a kill: never twice
    version = state.version + 1
    delta_log.write_commit(path, version, intent["tables"][table]["actions"], intent["run_id"], intent["seq"],
                           "WRITE")
    if not storage.exists(storage.join(path, NOT_PARQUET)):
        storage.write_bytes(storage.join(path, NOT_PARQUET), _NOT_PARQUET_TEXT)
    return version


def write_manifest(output_dir: str, table: str, state: delta_log.TableState) -> None:
    """The live files of a table, one absolute path (or gs:// uri) a line: Delta's symlink-format
    manifest, what BigQuery (file_set_spec_type NEW_LINE_DELIMITED_MANIFEST), Athena or Presto read."""
    paths = [path if is_remote(path) else os.path.abspath(path) for path in state.paths()]
    folder = storage.join(table_path(output_dir, table), MANIFEST)
    storage.makedirs(folder)
    storage.write_bytes(storage.join(folder, "manifest"), "".join(p + "\n" for p in paths).encode("utf-8"))


def roll_forward(output_dir: str, intent: dict) -> dict:
    """Apply a decided night: each table (in COMMIT_ORDER), the history entry, then DIR/run.json.

    Every step is idempotent, so a run killed at any point is finished by the next one.
    """
    versions = {}
    for table in COMMIT_ORDER:
        versions[table] = _commit_table(output_dir, table, intent)
        fail_point(f"commit:after_{table}")
    run = {**intent["run"], "seq": intent["seq"], "tables": versions}
    text = (json.dumps(run, indent=2) + "\n").encode()
    storage.makedirs(storage.join(output_dir, "runs"))
    storage.write_bytes(storage.join(output_dir, "runs", f"{intent['run_id']}.json"), text)
    fail_point("commit:before_live")
    storage.write_bytes(storage.join(output_dir, RUN_JSON), text)  # clipindex's readers switch here
    fail_point("commit:after_live")
    live = snapshot_of(output_dir, run)
    for table in ALL_TABLES:
        write_manifest(output_dir, table, live.states[table])
    _publish_thumbs(output_dir, intent.get("thumbs"), live)
    storage.delete_file(_intent_path(output_dir, intent["run_id"]))
    storage.delete_tree(storage.join(output_dir, WORK, intent["run_id"]))
    return run


def _publish_thumbs(output_dir: str, staged: Optional[str], live: Snapshot) -> None:
    """Staged contact sheets into DIR/thumbs; sheets of clips no longer live go."""
    target = storage.join(output_dir, THUMBS)
    sheets = storage.list_files(staged, ".jpg") if staged else []
    existing = storage.list_files(target, ".jpg")
    if not sheets and not existing:
        return
    storage.makedirs(target)
    for path in sheets:
        storage.rename(path, storage.join(target, path.rsplit("/", 1)[-1]))
    from transforms.storage.parquet import read_table

    live_ids = set(read_table(live.files("clips"), CLIPS_SCHEMA, ["clip_id"]).column("clip_id").to_pylist())
    for path in storage.list_files(target, ".jpg"):
        if path.rsplit("/", 1)[-1][: -len(".jpg")] not in live_ids:
            storage.delete_file(path)


def finish_interrupted_commit(output_dir: str, say=None) -> None:
    """Before a run: migrate an old layout, roll forward a decided night, remove killed runs' files."""
    if not is_remote(output_dir):
        _remove_temporary_names(output_dir)
    for path in storage.list_files(storage.join(output_dir, COMMITS), ".json"):
        roll_forward(output_dir, json.loads(storage.read_text(path)))
    if has_old_layout(output_dir):
        from transforms.storage.migrate import migrate_old_layout

        migrate_old_layout(output_dir, say)
    _remove_uncommitted(output_dir)


def _remove_uncommitted(output_dir: str) -> None:
    """Files of runs killed before their commit was decided: no version names them."""
    committed = {run.get("run_id") for run in history(output_dir)}
    for folder in (*ALL_TABLES, WORK):
        parent = storage.join(output_dir, folder)
        for name in storage.list_subfolders(parent):
            if not name.startswith(("_", ".")) and name != NOT_PARQUET and name not in committed:
                storage.delete_tree(storage.join(parent, name))


def _remove_temporary_names(output_dir: str) -> None:
    """`NAME.tmp-PID` files and links a killed commit left (atomic replaces write those first)."""
    for folder in (output_dir, os.path.join(output_dir, "runs"), os.path.join(output_dir, COMMITS)):
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if _TEMPORARY_NAME.search(name):
                    os.unlink(os.path.join(folder, name))


# ---- retention and "as of" ------------------------------------------------------------------

def _finished(run: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(run["finished_at"])


def vacuum(output_dir: str, keep_days: float = KEEP_DAYS, now: Optional[dt.datetime] = None) -> int:
    """Delete data files no version of the last `keep_days` reads; returns how many went.

    The oldest night kept is the one that was live `keep_days` ago, so `--as-of` any moment
    since then still finds its files. The logs and runs/*.json (history of totals) stay.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = now - dt.timedelta(days=keep_days)
    runs = [run for run in history(output_dir) if run.get("tables")]
    if not runs:
        return 0
    older = [run for run in runs if _finished(run) <= cutoff]
    oldest = max(older, key=_finished) if older else min(runs, key=_finished)
    deleted = 0
    for table in ALL_TABLES:
        root = table_path(output_dir, table)
        needed = delta_log.needed_files(root, oldest["tables"].get(table, 0))
        for path in storage.list_tree(root):
            relative = _relative(output_dir, table, path)
            if "/" in relative and not relative.startswith(("_", ".")) and relative not in needed:
                storage.delete_file(path)
                deleted += 1
    return deleted


def parse_as_of(text: str) -> tuple[Optional[str], Optional[dt.datetime]]:
    """(run id, None) or (None, moment): a date means the end of that day (UTC), a timestamp
    without an offset is UTC."""
    if re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]+", text):
        return text, None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = dt.date.fromisoformat(text)
            return None, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--as-of {text!r}: expected a date (2026-11-01), a timestamp "
                         "(2026-11-01T06:00:00Z) or a run id") from None
    return None, moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def snapshot_as_of(output_dir: str, text: str) -> Snapshot:
    """The night that was live at a moment (a date: at its end), or a run by its id."""
    run_id, moment = parse_as_of(text)
    runs = [run for run in history(output_dir) if run.get("tables")]
    if run_id is not None:
        chosen = [run for run in runs if run["run_id"] == run_id]
    else:
        chosen = sorted((run for run in runs if _finished(run) < moment or _finished(run) == moment),
                        key=_finished)[-1:]
    if not chosen:
        raise ValueError(f"--as-of {text}: no committed run of {output_dir} " +
                         ("has that id" if run_id else "had finished by then"))
    try:
        snapshot = snapshot_of(output_dir, chosen[-1])
        for table in ("clips", "errors"):
            for path in snapshot.files(table):
                if not storage.exists(path):
                    raise FileNotFoundError(path)
    except (FileNotFoundError, ValueError) as missing:
        raise ValueError(f"--as-of {text}: the files of run {chosen[-1]['run_id']} were vacuumed "
                         f"(--keep-days; {missing}); its totals stay in runs/{chosen[-1]['run_id']}.json") from None
    return snapshot


def replace_table(table: str, data, description: str, app_id: str) -> int:
    """Replace a small table as a whole (reconcile's discrepancies): one commit that removes every
    live file and adds one new file. Not under the run lock: put-if-absent settles a race (the
    loser retries on the newer version). Returns the version."""
    from transforms.storage.parquet import write_table

    stamp = new_run_id()
    path = storage.join(table, stamp, "part-0.parquet")
    storage.makedirs(storage.join(table, stamp))
    write_table(data, path)
    add = delta_log.add_action(table, path)
    for _ in range(5):
        state = delta_log.read_state(table)
        actions = [delta_log.remove_action(rel, size) for rel, size in sorted(state.files.items())] + [add]
        if state.schema_string() != delta_log.schema_string(data.schema):
            old_id = state.metadata["id"] if state.metadata else None
            actions.insert(0, delta_log.metadata_action(data.schema, table.rsplit("/", 1)[-1], description, old_id))
        try:
            delta_log.write_commit(table, state.version + 1, actions, stamp, state.txn.get(app_id, 0) + 1, "WRITE",
                                   app_id)
        except delta_log.CommitConflict:
            continue
        if not storage.exists(storage.join(table, NOT_PARQUET)):
            storage.write_bytes(storage.join(table, NOT_PARQUET), _NOT_PARQUET_TEXT)
        return state.version + 1
    raise delta_log.CommitConflict(f"{table}: other writers kept committing first")


def same_file(info, size, mtime, generation) -> bool:
    """Is `info` (a FileInfo) the file version a stored row describes? GCS generations when
    either side has one (a rewrite keeps the size), else size and mtime."""
    if info.generation is not None or generation is not None:
        return info.generation == generation and info.size_bytes == size
    return info.size_bytes == size and info.mtime_s == mtime
