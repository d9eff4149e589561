"""gcp-storage-emulator with GCS's request preconditions and resumable-session replies,
for the tests of the lock on gs:// and of runs through a fault-injecting proxy.

The emulator accepts `ifGenerationMatch`, `ifGenerationNotMatch` and
`ifMetagenerationMatch` and ignores them, and serves the live object whatever
`generation` a read names. GCS answers 412 (conditionNotMet) when a
precondition fails (`ifGenerationMatch=0`: only when no live object exists),
and 404 for a generation that is gone (no versioning). The lease lock and
clipindex's pinned reads rely on exactly that, so the tests run the real
emulator with these checks added in front of its object handlers. The
emulator serves one request at a time, so check-then-act is atomic here as it
is in GCS.

A resumable upload session that has completed answers a repeated final request
with 200 and the object on GCS (a client whose answer was lost retries it); the
emulator forgets the session and answers 404. Completed sessions are
remembered here and answered as GCS does.

    python -m tests.support.gcs_emulator PORT BUCKET      # what the `strict_emulator` fixture starts
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from http import HTTPStatus

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _object_name(request, handler) -> str | None:
    from gcp_storage_emulator.handlers import objects

    if handler is objects.insert:
        if "name" in request.query:
            return request.query["name"][0]
        if request.query.get("uploadType", [""])[0] == "multipart":
            return request.data["meta"].get("name")
        return None  # resumable uploads: clipindex sends no preconditions with them
    return request.params.get("object_id")


def _failed_precondition(request, storage, name: str) -> HTTPStatus | None:
    from gcp_storage_emulator.exceptions import NotFound

    try:
        obj = storage.get_file_obj(request.params["bucket_name"], name)
        generation, metageneration = int(obj["generation"]), int(obj.get("metageneration") or 1)
    except NotFound:
        generation = metageneration = None
    query = {k: int(v[0]) for k, v in request.query.items()
             if k in ("ifGenerationMatch", "ifGenerationNotMatch", "ifMetagenerationMatch", "generation")}
    if "ifGenerationMatch" in query and query["ifGenerationMatch"] != (generation or 0):
        return HTTPStatus.PRECONDITION_FAILED
    if "ifGenerationNotMatch" in query and query["ifGenerationNotMatch"] == (generation or 0):
        return HTTPStatus.PRECONDITION_FAILED
    if "ifMetagenerationMatch" in query and query["ifMetagenerationMatch"] != metageneration:
        return HTTPStatus.PRECONDITION_FAILED
    if "generation" in query and query["generation"] != generation:
        return HTTPStatus.NOT_FOUND
    return None


def _with_preconditions(handler, original):
    def checked(request, response, storage, *args, **kwargs):
        name = _object_name(request, original)
        status = _failed_precondition(request, storage, name) if name else None
        if status is not None:
            response.status = status
            reason = "conditionNotMet" if status == HTTPStatus.PRECONDITION_FAILED else "notFound"
            response.json({"error": {"code": status.value, "message": reason, "errors": [{"reason": reason}]}})
            return None
        return handler(request, response, storage, *args, **kwargs)
    return checked


def _replaying_completed_sessions(handler):
    completed: dict[str, tuple[str, str]] = {}  # upload_id -> (bucket, object name)

    def replayed(request, response, storage, *args, **kwargs):
        upload_id = request.query.get("upload_id", [None])[0]
        if upload_id in completed:
            response.json(storage.get_file_obj(*completed[upload_id]))
            return None
        result = handler(request, response, storage, *args, **kwargs)
        if upload_id and response.status == HTTPStatus.OK:
            obj = json.loads(response._content)
            completed[upload_id] = (obj["bucket"], obj["name"])
        return result
    return replayed


def serve(port: int, bucket: str) -> None:
    from gcp_storage_emulator import server
    from gcp_storage_emulator.handlers import objects

    checked = {objects.insert, objects.get, objects.download, objects.delete, objects.patch}

    def wrapped(original):
        handler = original
        if original in (objects.insert, objects.upload_partial):  # insert: POST-with-upload_id clients
            handler = _replaying_completed_sessions(original)
        return _with_preconditions(handler, original) if original in checked else handler

    server.HANDLERS = tuple((regex, {method: wrapped(h) for method, h in handlers.items()})
                            for regex, handlers in server.HANDLERS)
    server.create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket).run()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def start(bucket: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tests.support.gcs_emulator", str(port), bucket], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": REPO}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return process, port


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
