"""Is `--output DIR` usable: an index folder, a new one, or an empty one, that can be written.

Checked before anything is written, so a mistyped output (the corpus folder,
a home directory, /proc) is exit 2 with one line, never a half-written index
among someone else's files.
"""

from __future__ import annotations

import os

from transforms.storage import fs as storage
from transforms.storage.readers import is_remote
from transforms.storage.snapshots import OutputProblem

# Names an index DIR holds from its first run on (a killed first run leaves `_work`
# or `checkpoint`, a stale lock `.lock`): their presence makes a folder an index.
# CURRENT, current and snapshots: the layout before Delta tables (migrated by the next run).
INDEX_MARKERS = frozenset({"run.json", "runs", "_commit", "_work", "checkpoint", ".lock",
                           "CURRENT", "current", "snapshots"})


def _top_level_names(output_dir: str) -> set[str]:
    if is_remote(output_dir):
        if not output_dir.startswith("gs://"):
            return set()  # other Beam filesystems: not checked
        from transforms.storage.gcs import split_uri, storage_client

        bucket, name = split_uri(output_dir.rstrip("/"))
        prefix = name + "/" if name else ""
        names: set[str] = set()
        blobs = storage_client().list_blobs(bucket, prefix=prefix, delimiter="/", max_results=1000)
        for page in blobs.pages:
            names.update(blob.name[len(prefix):] for blob in page)
            names.update(p[len(prefix):].rstrip("/") for p in page.prefixes)
        return names - {""}
    try:
        return set(os.listdir(output_dir))
    except (FileNotFoundError, NotADirectoryError):
        return set()


def check_index_folder(output_dir: str) -> None:
    """Refuse a folder that holds files but is not a clipindex index (exit 2)."""
    names = _top_level_names(output_dir)
    if names & INDEX_MARKERS:
        return
    foreign = sorted(n for n in names if not n.startswith("."))  # .DS_Store and the like
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputProblem(f"output {output_dir} is a folder with other files in it ({shown}), not a "
                            "clipindex index; choose a new or empty folder")


def make_output(output_dir: str) -> None:
    """Create DIR and prove it can be written: any failure is an unusable output (exit 2)."""
    if is_remote(output_dir):
        return  # object stores: the bucket was checked; the first write says the rest
    probe = os.path.join(output_dir, f".clipindex-probe-{os.getpid()}")
    try:
        storage.makedirs(output_dir)
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as exc:
        raise OutputProblem(f"output {output_dir} is not writable: {exc.strerror or exc}") from None
