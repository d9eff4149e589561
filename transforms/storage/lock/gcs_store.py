"""The run lock as one GCS object (see transforms.storage.lock.store for the contract).

The version is the object generation; every write and delete carries
`ifGenerationMatch`, so it applies only to the version the caller saw. A
conditional write whose answer was lost (the client retries it and gets 412)
is recognised by the token inside the object. The storage's clock is the
`updated` time GCS gives a small probe object.
"""

from __future__ import annotations

import secrets
from typing import Optional

from transforms.storage.lock.store import LockState, parse_holder


class GcsLockStore:
    def __init__(self, uri: str):
        from transforms.storage.gcs import split_uri, storage_client

        self.path = uri
        self._bucket_name, self._name = split_uri(uri)
        self._bucket = storage_client().bucket(self._bucket_name)

    def _blob(self, name: Optional[str] = None):
        return self._bucket.blob(name or self._name)

    def create(self, content: bytes) -> Optional[object]:
        from google.api_core.exceptions import PreconditionFailed

        blob = self._blob()
        try:
            blob.upload_from_string(content, if_generation_match=0)
        except PreconditionFailed:
            return None
        return blob.generation

    def read(self) -> Optional[LockState]:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        for _ in range(3):  # the object may change between its metadata and its bytes
            blob = self._bucket.get_blob(self._name)
            if blob is None:
                return None
            # Taken before the download, which may reset them from its response headers.
            generation, updated_s = blob.generation, blob.updated.timestamp()
            try:
                data = blob.download_as_bytes(if_generation_match=generation)
            except (NotFound, PreconditionFailed):
                continue
            return LockState(parse_holder(data), updated_s, generation)
        return None

    def now_s(self) -> float:
        from google.api_core.exceptions import GoogleAPIError

        probe = self._blob(f"{self._name}-clock-{secrets.token_hex(4)}")
        probe.upload_from_string(b"", if_generation_match=0)
        now_s = probe.updated.timestamp()
        try:
            probe.delete(if_generation_match=probe.generation)
        except GoogleAPIError:
            pass  # a stray empty probe object is harmless; the time is what was needed
        return now_s

    def _ours_after_conflict(self, token: str) -> Optional[object]:
        """A conditional write failed: was it ours after all (a retried request whose
        first attempt went through)? Then the current generation is ours."""
        state = self.read()
        return state.version if state is not None and state.token == token else None

    def _write_if(self, generation: object, token: str, content: bytes) -> Optional[object]:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        blob = self._blob()
        try:
            blob.upload_from_string(content, if_generation_match=generation)
        except (PreconditionFailed, NotFound):
            return self._ours_after_conflict(token)
        return blob.generation

    def renew(self, version: object, token: str, content: bytes) -> Optional[object]:
        return self._write_if(version, token, content)

    def replace_stale(self, stale: LockState, content: bytes) -> Optional[object]:
        return self._write_if(stale.version, parse_holder(content).get("token"), content)

    def remove(self, version: object, token: str) -> bool:
        from google.api_core.exceptions import NotFound, PreconditionFailed

        try:
            self._blob().delete(if_generation_match=version)
        except NotFound:
            return False
        except PreconditionFailed:
            ours = self._ours_after_conflict(token)
            return ours is not None and self.remove(ours, token)
        return True
