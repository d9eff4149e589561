"""Where the run lock lives: one file on a local or shared disk, or one GCS object.

Both stores offer the same compare-and-swap steps to `transforms.storage.lock.lease`:
create only if absent, read, renew / replace / remove only if the lock is still
the version the caller names, and the storage's own clock.

- Local (or NFS) file: the version is (device, inode) plus the token inside
  the file (an inode number can be reused after a delete, a token cannot). It
  is taken with O_EXCL; renewing sets its mtime (`futimens`, on NFS the
  server's time); it is replaced or removed by first renaming it aside
  (atomic: of two runs only one can move it) and checking that what was moved
  is the expected lock, putting it back otherwise.
- GCS object (transforms.storage.lock.gcs_store): the version is the object
  generation; every write carries `ifGenerationMatch`.

Ages are measured on the storage's clock (a file's mtime, an object's
`updated`, both set by the storage), never by comparing two hosts' clocks:
`now_s` creates a small probe and reads the time the storage gave it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from typing import Optional


@dataclasses.dataclass(frozen=True)
class LockState:
    holder: dict          # the lock's JSON content ({} when unreadable, e.g. cut short)
    modified_s: float     # last creation or renewal, on the storage's clock
    version: object       # (device, inode) locally, the object generation on GCS

    @property
    def token(self) -> Optional[str]:
        return self.holder.get("token")


def parse_holder(data: bytes) -> dict:
    try:
        holder = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


class LocalLockStore:
    def __init__(self, path: str):
        self.path = path

    def create(self, content: bytes) -> Optional[object]:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return None
        try:
            os.write(fd, content)
            os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return (st.st_dev, st.st_ino)

    def _read_at(self, path: str) -> Optional[LockState]:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(fd)
            data = os.read(fd, 1 << 16)
        finally:
            os.close(fd)
        return LockState(parse_holder(data), st.st_mtime, (st.st_dev, st.st_ino))

    def read(self) -> Optional[LockState]:
        return self._read_at(self.path)

    def now_s(self) -> float:
        probe = f"{self.path}-clock-{secrets.token_hex(4)}"
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        try:
            return os.fstat(fd).st_mtime
        finally:
            os.close(fd)
            os.unlink(probe)

    def renew(self, version: object, token: str, content: bytes) -> Optional[object]:
        """Touch the lock if it is still ours; None when it is not (lost)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != version or parse_holder(os.read(fd, 1 << 16)).get("token") != token:
                return None
            os.utime(fd)  # the inode we checked, whatever the path names by now
        finally:
            os.close(fd)
        return version

    def _move_aside(self, suffix: str) -> Optional[str]:
        aside = f"{self.path}.{suffix}-{secrets.token_hex(4)}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return None
        return aside

    def _put_back(self, aside: str) -> None:
        try:
            os.link(aside, self.path)  # fails if a third run created a lock meanwhile
        except FileExistsError:
            pass
        os.unlink(aside)

    def replace_stale(self, stale: LockState, content: bytes) -> Optional[object]:
        """Replace the lock judged stale with ours; None if it changed since it was judged."""
        aside = self._move_aside("stale")
        if aside is None:
            return None
        moved = self._read_at(aside)
        if moved is None or moved.version != stale.version or moved.modified_s != stale.modified_s:
            self._put_back(aside)  # renewed or replaced meanwhile: not the lock that was judged
            return None
        os.unlink(aside)
        return self.create(content)

    def remove(self, version: object, token: str) -> bool:
        """Delete the lock only if it is ours; True when ours was removed."""
        aside = self._move_aside("release")
        if aside is None:
            return False
        moved = self._read_at(aside)
        if moved is not None and moved.version == version and moved.token == token:
            os.unlink(aside)
            return True
        self._put_back(aside)
        return False
