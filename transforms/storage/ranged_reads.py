"""Ranged reads of one GCS object generation, with bounded retries (the clip reader's source).

FFmpeg's reads become ranged GETs (through transforms.storage.gcs_prefetch). Each GET
(transforms.storage.gcs_http) is retried as google-cloud-storage retries (429, 5xx, dropped
connections, with backoff) for at most READ_RETRY_TIMEOUT_S, and a few more attempts are made
here for failures that predicate does not cover (a short body); a read that
keeps failing raises OSError(EIO), which the index turns into an `io_error` row
rather than letting one clip hang the run or pass for `not_found`. The read is
pinned to the generation that was listed, so a rewrite during the read is seen
as the object being gone, never as a mix of two versions.
"""

from __future__ import annotations

import errno
import http.client
import time
from typing import Optional

from schemas import FileInfo
from transforms.storage.gcs import object_info
from transforms.storage.gcs_client import split_uri, storage_client
from transforms.storage.problems import InputProblem

READ_RETRY_TIMEOUT_S = 30.0  # google-cloud-storage's own retries of one GET, at most this long
READ_ATTEMPTS = 3            # then this many attempts in all, for what its predicate does not retry
RETRY_PAUSE_S = 0.5


def _transient_errors() -> tuple:
    import requests
    from google.api_core import exceptions as api_exceptions

    import urllib3

    return (api_exceptions.GoogleAPIError, requests.exceptions.RequestException, http.client.HTTPException,
            urllib3.exceptions.HTTPError, OSError)


def object_info_or_problem(uri: str) -> FileInfo:
    """object_info, with a metadata request that keeps failing named an io_error."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    try:
        return object_info(uri, retry=DEFAULT_RETRY.with_timeout(READ_RETRY_TIMEOUT_S))
    except _transient_errors() as exc:
        raise InputProblem("io_error", f"object metadata cannot be read: {type(exc).__name__}: {exc}") from None


class ObjectRanges:
    """A seekable raw reader over one object generation; each read is one ranged GET."""

    def __init__(self, uri: str, generation: Optional[str], size_bytes: int,
                 fault: Optional[OSError] = None):
        from transforms.storage.gcs_http import media_url

        bucket, name = split_uri(uri)
        self._client = storage_client()
        self._generation = int(generation) if generation else None
        self._url = media_url(self._client, bucket, name, self._generation)
        self._size = size_bytes
        self._pos = 0
        self._fault = fault  # test-only (transforms.faults): every GET fails with it
        self.requests = 0  # GETs sent, retries included

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = offset if whence == 0 else (self._pos + offset if whence == 1 else self._size + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        if end <= self._pos:
            return b""
        data = self._fetch(self._pos, end)
        self._pos += len(data)
        return data

    def _fetch(self, start: int, end: int) -> bytes:
        from transforms.storage.gcs_http import get_range

        last: Optional[BaseException] = None
        for attempt in range(READ_ATTEMPTS):
            try:
                if self._fault is not None:
                    self.requests += 1
                    raise self._fault
                # One media GET pinned to the generation, retried while transient for at most
                # READ_RETRY_TIMEOUT_S (transforms.storage.gcs_http: the client's URL and credentials).
                data, sent = get_range(self._client, self._url, start, end, READ_RETRY_TIMEOUT_S)
                self.requests += sent
            except FileNotFoundError:
                self.requests += 1
                raise FileNotFoundError(errno.ENOENT, "object (this generation) no longer exists") from None
            except _transient_errors() as exc:
                self.requests += getattr(exc, "requests", 1)
                last = exc
            else:
                if len(data) >= end - start:
                    return data[: end - start]
                last = OSError(errno.EIO, f"short read: {len(data)} of {end - start} bytes")
            time.sleep(RETRY_PAUSE_S * 2 ** attempt)
        raise OSError(errno.EIO, f"remote read keeps failing after {READ_ATTEMPTS} attempts: "
                                 f"{type(last).__name__}: {last}")

    def close(self) -> None:
        pass
