"""Listing a bucket prefix fast: raw JSON pages of 1,000, only the fields used, sub-folders in parallel.

A 38,200-object archive is 39 listing pages. Through google-cloud-storage's
`list_blobs` each object becomes a Blob whose `updated` is parsed with
`strptime` (twice, in `_blob_info`): 4.5 s of CPU on 2 cores before any
round trip. Here each page is one JSON request asking only for name, size,
generation and update time, and each item becomes a FileInfo directly.

Where the prefix holds sub-folders (device folders, day folders), one listing
with a delimiter names them and each is listed on its own thread: the round
trips overlap instead of queueing one page after the other (39 pages x 40 ms
sequentially). Listing is retried as google-cloud-storage retries it.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Optional
from urllib.parse import quote

from schemas import FileInfo

PAGE_SIZE = 1000        # GCS's largest page
LIST_THREADS = 16       # sub-folders listed at once
FIELDS = "items(name,size,updated,generation),prefixes,nextPageToken"


def _pages(bucket: str, prefix: str, delimiter: Optional[str] = None) -> Iterator[dict]:
    from google.cloud.storage.retry import DEFAULT_RETRY

    from transforms.storage.gcs_client import storage_client

    connection = storage_client()._connection
    token = None
    while True:
        query = {"prefix": prefix, "maxResults": PAGE_SIZE, "fields": FIELDS, "projection": "noAcl"}
        if delimiter:
            query["delimiter"] = delimiter
        if token:
            query["pageToken"] = token
        page = connection.api_request(method="GET", path=f"/b/{quote(bucket, safe='')}/o", query_params=query,
                                      retry=DEFAULT_RETRY)
        yield page
        token = page.get("nextPageToken")
        if not token:
            return


def updated_s(text: Optional[str]) -> Optional[float]:
    """An RFC 3339 update time (`2026-12-01T10:00:00.123Z`) as seconds since the epoch."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:  # nanoseconds, or another form Python's parser refuses
        from google.cloud._helpers import _rfc3339_nanos_to_datetime

        return _rfc3339_nanos_to_datetime(text).timestamp()


def item_info(bucket: str, item: dict) -> FileInfo:
    size = item.get("size")
    generation = item.get("generation")
    return FileInfo(uri=f"gs://{bucket}/{item['name']}", size_bytes=int(size) if size is not None else None,
                    mtime_s=updated_s(item.get("updated")), generation=str(generation) if generation else None)


def list_prefix(bucket: str, prefix: str, split: bool = True) -> list[dict]:
    """Every object item under `prefix` (any depth); with `split`, its sub-folders in parallel."""
    if not split:
        return [item for page in _pages(bucket, prefix) for item in page.get("items", [])]
    items: list[dict] = []
    folders: list[str] = []
    for page in _pages(bucket, prefix, delimiter="/"):
        items.extend(page.get("items", []))
        folders.extend(page.get("prefixes", []))
    if len(folders) == 1:
        items.extend(list_prefix(bucket, folders[0], split=True))  # one folder: split below it
    elif folders:
        from transforms.storage.gcs_client import widen_connection_pool

        threads = min(LIST_THREADS, len(folders))
        widen_connection_pool(threads + 4)
        with ThreadPoolExecutor(threads, thread_name_prefix="gcs-list") as pool:
            for part in pool.map(lambda folder: list_prefix(bucket, folder, split=False), folders):
                items.extend(part)
    return items
