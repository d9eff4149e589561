"""Google Cloud Storage specifics: emulator credentials, listing with generations.

Against a GCS emulator (STORAGE_EMULATOR_HOST set), Beam would first ask
google.auth for credentials, with retries (~24 s per process), before it falls
back to anonymous access. `use_emulator_credentials` decides that up front: the launcher
calls it (pipeline.cli), every clipindex DoFn calls it in setup(), and so does every path
into Beam's FileSystems or the storage client (storage.fs, storage.readers), once per process.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator, Optional

from schemas import FileInfo
from transforms.storage.gcs_client import (  # noqa: F401 - callers import them from here too
    EMULATOR_ENV,
    split_uri,
    storage_client,
    use_emulator_credentials,
)
from transforms.storage.gcs_listing import item_info, list_prefix
from transforms.storage.globbing import path_regex

# The client and its credentials live in gcs_client (no cycle with the listing and the readers).


def pattern_regex(pattern: str, case_sensitive: bool = True) -> re.Pattern:
    """gsutil-style glob: `**` spans folders (also zero: a/**/b matches a/b), `*` does not."""
    return path_regex(pattern, case_sensitive)


def _hidden(name: str, folder: str, name_pattern: str) -> bool:
    """A part below the listed folder starts with `.` and the pattern never names one (as locally)."""
    below = name[len(folder):].split("/")
    pattern_parts = name_pattern[len(folder):].split("/")
    return any(p.startswith(".") for p in below) and not any(p.startswith(".") for p in pattern_parts)


def list_matching(pattern: str, case_sensitive: bool = False,
                  on_hidden: Optional[Callable[[FileInfo], None]] = None) -> Iterator[FileInfo]:
    """Objects matching a gs:// glob, with size, update time and generation.

    The text before the first wildcard is the listing prefix, taken as written; the rest
    is matched case-insensitively unless `case_sensitive`. Hidden objects (a name part
    starting with `.`) are not matched by wildcards, as on local disks: each one that
    would match otherwise goes to `on_hidden`.
    """
    bucket, name_pattern = split_uri(pattern)
    magic = min((name_pattern.find(c) for c in "*?[" if c in name_pattern), default=len(name_pattern))
    prefix = name_pattern[:magic]
    folder = prefix[: prefix.rfind("/") + 1]
    regex = pattern_regex(name_pattern, case_sensitive) if magic < len(name_pattern) else None
    # Raw pages of only the fields used, sub-folders listed in parallel (transforms.storage.gcs_listing).
    for item in sorted(list_prefix(bucket, prefix, split=regex is not None), key=lambda item: item["name"]):
        name = item["name"]
        if name.endswith("/"):
            continue  # folder placeholder objects
        if regex is None:
            if name != name_pattern:
                continue
        elif not regex.match(name):
            continue
        elif _hidden(name, folder, name_pattern):
            if on_hidden is not None:
                on_hidden(item_info(bucket, item))
            continue
        yield item_info(bucket, item)


def _blob_info(bucket: str, blob) -> FileInfo:
    updated = blob.updated.timestamp() if blob.updated else None
    return FileInfo(uri=f"gs://{bucket}/{blob.name}", size_bytes=blob.size, mtime_s=updated,
                    generation=str(blob.generation) if blob.generation is not None else None)


def list_folder(folder_uri: str) -> list[FileInfo]:
    """Objects directly in one gs:// folder (one paged listing, no recursion)."""
    bucket, prefix = split_uri(folder_uri)
    return [_blob_info(bucket, blob) for blob in storage_client().list_blobs(bucket, prefix=prefix, delimiter="/")
            if not blob.name.endswith("/")]


def object_info(uri: str, retry=None) -> FileInfo:
    """Size, update time and generation of one object (size None when there is none).
    `retry`: a google.api_core Retry instead of the client's default (120 s of retries)."""
    bucket, name = split_uri(uri)
    options = {} if retry is None else {"retry": retry}
    blob = storage_client().bucket(bucket).get_blob(name, **options)
    return FileInfo(uri, None, None) if blob is None else _blob_info(bucket, blob)


def bucket_exists(uri: str) -> bool:
    bucket, _ = split_uri(uri)
    return storage_client().bucket(bucket).exists()

