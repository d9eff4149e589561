"""One ranged GET of one object generation, with as little work per request as the client allows.

`Blob.download_as_bytes` costs ~1.5 ms of CPU a request (a Blob, google-resumable-media's
download with its checksum set-up and retry wrapper, requests' adapter, which stats the CA
bundle on every call, a uuid per request); with the worker prefetching many clips on threads
of one process, that CPU, held under one GIL, was what bounded a gs:// run at 0-40 ms per
request (bench/bucket.py: 3,000 one-minute clips 17 s from a bucket against 7.8 s from disk).
Here the same JSON-API media request goes through one urllib3 pool per process, with the
client's own base URL (an emulator's too) and credentials (refreshed when they expire), and
is retried like google-cloud-storage retries it: 408, 429 and 5xx answers and dropped
connections, with exponential backoff (1 s, doubling, at most 60 s) until a deadline.
"""

from __future__ import annotations

import errno
import os
import random
import threading
import time
from typing import Optional
from urllib.parse import quote

TRANSIENT_STATUSES = frozenset((408, 429, 500, 502, 503, 504))
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 60.0
POOL_CONNECTIONS = 64  # per host, at least: `reserve_connections` raises it to the reads kept in flight

_lock = threading.Lock()
_pools: dict[int, object] = {}  # pid -> urllib3.PoolManager (a forked child makes its own)
# Called with (url, bytes received) after each media GET that answered (tests count them here).
observers: list = []


class TransientError(OSError):
    """An answer or a failure worth trying again (408, 429, 5xx, a dropped connection)."""


_connections = POOL_CONNECTIONS


def reserve_connections(count: int) -> None:
    """Keep at least `count` connections open per host (as many as requests in flight)."""
    global _connections
    with _lock:
        if count > _connections:
            _connections = count
            _pools.pop(os.getpid(), None)  # the next request builds a pool that large


def _pool():
    pid = os.getpid()
    pool = _pools.get(pid)
    if pool is None:
        import urllib3

        with _lock:
            pool = _pools.get(pid)
            if pool is None:
                options = {}
                try:
                    import certifi

                    options["ca_certs"] = certifi.where()
                except ImportError:
                    pass
                pool = urllib3.PoolManager(maxsize=_connections, retries=False,
                                           timeout=urllib3.Timeout(connect=30.0, read=60.0), **options)
                _pools[pid] = pool
    return pool


def _auth_headers(client, refresh: bool = False) -> dict:
    credentials = getattr(client, "_credentials", None)
    headers = {"User-Agent": "clipindex"}
    if credentials is None or type(credentials).__name__ == "AnonymousCredentials":
        return headers
    if refresh or not credentials.valid:
        import google.auth.transport.requests

        with _lock:
            if refresh or not credentials.valid:
                credentials.refresh(google.auth.transport.requests.Request())
    credentials.apply(headers)
    return headers


def media_url(client, bucket: str, name: str, generation: Optional[int]) -> str:
    base = client._connection.API_BASE_URL.rstrip("/")
    url = f"{base}/download/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}?alt=media"
    return url + (f"&generation={generation}" if generation is not None else "")


def get_range_once(client, url: str, start: int, end: int) -> bytes:
    """Bytes [start, end) in one request; FileNotFoundError for a gone object (generation),
    TransientError for what is worth another try, OSError(EIO) for any other answer."""
    import urllib3

    headers = {**_auth_headers(client), "Range": f"bytes={start}-{end - 1}"}
    try:
        answer = _pool().request("GET", url, headers=headers, preload_content=True, redirect=False)
        if answer.status == 401:  # an expired token: refresh once, then as any other answer
            headers.update(_auth_headers(client, refresh=True))
            answer = _pool().request("GET", url, headers=headers, preload_content=True, redirect=False)
    except urllib3.exceptions.HTTPError as exc:  # dropped connection, time-out, protocol error
        raise TransientError(errno.EIO, f"{type(exc).__name__}: {exc}") from None
    for observe in observers:
        observe(url, len(answer.data))
    if answer.status in (200, 206):
        data = answer.data
        return data[start: end] if answer.status == 200 else data
    if answer.status == 404:
        raise FileNotFoundError(errno.ENOENT, "object (this generation) no longer exists")
    if answer.status in TRANSIENT_STATUSES:
        raise TransientError(errno.EIO, f"HTTP {answer.status}")
    raise OSError(errno.EIO, f"HTTP {answer.status}: {answer.data[:200]!r}")


def get_range(client, url: str, start: int, end: int, deadline_s: float, sleep=time.sleep) -> tuple[bytes, int]:
    """get_range_once, retried while transient until `deadline_s` has passed; returns (bytes, GETs sent)."""
    started = time.monotonic()
    delay = BACKOFF_INITIAL_S
    sent = 0
    while True:
        sent += 1
        try:
            return get_range_once(client, url, start, end), sent
        except TransientError as exc:
            remaining = deadline_s - (time.monotonic() - started)
            if remaining <= 0:
                exc.requests = sent
                raise
            sleep(min(remaining, random.uniform(0.0, delay * 2)))
            delay = min(BACKOFF_MAX_S, delay * 2)
