"""A fault-injecting HTTP proxy on 127.0.0.1, between clipindex and the GCS emulator.

A share of the requests (`rate`, e.g. 0.1) is answered 503 or 429, or the
connection is dropped without an answer (before the request reaches the
emulator, or for reads after it: the answer is lost); the rest is forwarded as
is. Whether a request fails is a function of the seed, the request line and
how many times that same request was seen, so a run meets the same faults
whatever order its workers send them in, and a retried request draws again.
Requests whose path holds one of `always_fail` get 503 every time (a read
that keeps failing); the first `n` requests whose path holds a key of
`lose_answers` (key -> n) are carried out upstream and their answers lost
(e.g. a conditional write that succeeded, whose client retries it).
"""

from __future__ import annotations

import collections
import hashlib
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
FAULTS = ("503", "429", "drop", "lost_answer")


class FaultProxy:
    def __init__(self, upstream_port: int, rate: float = 0.1, seed: int = 0, always_fail: tuple[str, ...] = (),
                 lose_answers: dict[str, int] | None = None):
        self.upstream_port = upstream_port
        self.lose_answers = dict(lose_answers or {})
        self.rate = rate
        self.seed = seed
        self.always_fail = always_fail
        self.counts: collections.Counter = collections.Counter()
        self.faulted: list[tuple[str, str, str]] = []  # (fault, method, path) of every fault
        self._seen: collections.Counter = collections.Counter()
        self._mutex = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fault_for(self, method: str, path: str) -> str | None:
        """None to forward, else one of FAULTS (counted)."""
        with self._mutex:
            if any(text in path for text in self.always_fail):
                self.counts["503"] += 1
                return "503"
            for text, left in self.lose_answers.items():
                if left and text in path:
                    self.lose_answers[text] -= 1
                    self.counts["lost_answer"] += 1
                    self.faulted.append(("lost_answer", method, path))
                    return "lost_answer"
            self._seen[(method, path)] += 1
            draw = hashlib.sha256(f"{self.seed} {method} {path} {self._seen[(method, path)]}".encode()).digest()
            if int.from_bytes(draw[:4], "big") / 2 ** 32 >= self.rate:
                self.counts["forwarded"] += 1
                return None
            fault = FAULTS[draw[4] % len(FAULTS)]
            self.counts[fault] += 1
            self.faulted.append((fault, method, path))
            return fault


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up on a dropped connection is what this proxy is for


def _handler_for(proxy: FaultProxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                parts = []
                while size := int(self.rfile.readline().strip() or b"0", 16):
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(parts)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _error(self, status: int, reason: str) -> None:
            body = f'{{"error": {{"code": {status}, "message": "{reason}", "errors": [{{"reason": "{reason}"}}]}}}}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
            # The emulator builds URLs (upload sessions, mediaLink) from the Host header and
            # stores some: it is told its own address, and answers name this proxy instead,
            # so clients come back through the proxy during the run and not after it.
            here, there = f"127.0.0.1:{proxy.port}".encode(), f"127.0.0.1:{proxy.upstream_port}".encode()
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS | {"host"}}
                headers["Host"] = there.decode()
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                answer_headers = [(k, v.replace(there.decode(), here.decode())) for k, v in answer.getheaders()]
                return answer.status, answer_headers, answer.read().replace(there, here)
            finally:
                upstream.close()

        def _handle(self) -> None:
            body = self._body()
            fault = proxy.fault_for(self.command, self.path)
            if fault == "drop":
                self.close_connection = True  # no answer at all; the client sees the connection end
                return
            if fault in ("503", "429"):
                self._error(int(fault), "backendError" if fault == "503" else "rateLimitExceeded")
                return
            status, headers, content = self._forward(body)
            if fault == "lost_answer":
                self.close_connection = True  # done upstream, answer lost on the way back
                return
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in HOP_HEADERS:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    return Handler
