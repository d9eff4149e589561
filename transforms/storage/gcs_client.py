"""The one google-cloud-storage client of a process, and the credentials it uses.

Against a GCS emulator (STORAGE_EMULATOR_HOST set), Beam would first ask
google.auth for credentials, with retries (~24 s per process), before it falls
back to anonymous access. `use_emulator_credentials` decides that up front: the launcher
calls it (pipeline.cli), every clipindex DoFn calls it in setup(), and so does every path
into Beam's FileSystems or the storage client (storage.fs, storage.readers), once per process.
Kept apart from storage.gcs (listing, object facts) so the listing and the ranged readers
import the client without importing each other.
"""

from __future__ import annotations

import functools
import os

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


@functools.lru_cache(maxsize=1)
def use_emulator_credentials() -> None:
    if not os.environ.get(EMULATOR_ENV):
        return
    try:
        from apache_beam.internal.gcp import auth
    except ImportError:
        return
    # Beam treats "no credentials" as "use an anonymous client", which is what
    # an emulator accepts; google-cloud-storage reads the emulator host itself.
    with auth._Credentials._credentials_lock:
        auth._Credentials._credentials = None
        auth._Credentials._credentials_init = True


@functools.lru_cache(maxsize=1)
def storage_client():
    """The same google-cloud-storage client Beam's GCS filesystem uses (one per process)."""
    from apache_beam.io.gcp import gcsio

    use_emulator_credentials()
    return gcsio.GcsIO().client


def split_uri(uri: str) -> tuple[str, str]:
    without = uri[len("gs://"):]
    bucket, _, name = without.partition("/")
    return bucket, name


def widen_connection_pool(connections: int) -> None:
    """Let this process's one GCS client keep `connections` open (requests keeps 10 by default:
    more reads in flight than that would open and drop a connection each time)."""
    from requests.adapters import HTTPAdapter

    session = storage_client()._http
    for prefix in ("https://", "http://"):
        current = session.adapters.get(prefix)
        if current is not None and getattr(current, "_pool_maxsize", 0) >= connections:
            continue
        session.mount(prefix, HTTPAdapter(pool_connections=connections, pool_maxsize=connections))
