"""A bucket on 127.0.0.1 for benchmarks and tests: fake-gcs-server behind a delaying, counting proxy.

    with FakeGcs(root=DIR) as server, DelayProxy(server.port, delay_ms=40) as proxy:
        env = proxy.client_env()          # STORAGE_EMULATOR_HOST etc. for clipindex
        ...
        proxy.stats()                     # {"requests": N, "kinds": {"media": ..}, "bytes": ..}

* fake-gcs-server (tools/fetch_fake_gcs.sh builds it from the Go module proxy into
  $CLIPINDEX_CACHE/bin) serves the JSON API concurrently, keeps object generations and
  honours `generation=` on reads; the `filesystem` backend keeps a bucket across runs in
  ROOT (the benchmark uploads its corpus once), the `memory` one is for small tests.
* the proxy (tools/delay_proxy, built by tools/build_delay_proxy.sh) adds a fixed delay to
  every request and counts every request it forwards by kind (media, metadata, list,
  upload): what a bucket would see, retries included. Written in Go so that on a 2-core
  machine it takes next to no CPU from the run it measures. It can also answer one
  bucket's listings itself from a list of names (fake-gcs-server's listing and object
  creation do not scale to a 38,200-object archive; see tools/delay_proxy/main.go).

The server is told the proxy's address (-external-url, -public-host), so the links it hands
out (upload sessions, media links) lead back through the proxy. Everything listens on
127.0.0.1 only; both processes are stopped on exit.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from typing import Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = "clipindex-bench"


def tool_binary(script: str) -> Optional[str]:
    """Path printed by tools/SCRIPT (builds into the cache the first time), or None if it cannot."""
    try:
        done = subprocess.run(["bash", os.path.join(REPO, "tools", script)], capture_output=True, text=True,
                              timeout=1800)
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else ""
    return path if path and os.access(path, os.X_OK) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 30.0, process: Optional[subprocess.Popen] = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class _Process:
    process: Optional[subprocess.Popen] = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the process has used so far (0 when it is gone)."""
        try:
            with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, AttributeError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class FakeGcs(_Process):
    """fake-gcs-server on 127.0.0.1; `public_port`: the proxy clients reach it through; `root`: a
    filesystem backend kept there (else in memory); `data`: a folder of BUCKET/NAME files loaded at start."""

    def __init__(self, binary: str, public_port: int, root: Optional[str] = None, port: Optional[int] = None,
                 data: Optional[str] = None):
        self.port = port or free_port()
        args = [binary, "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
                "-external-url", f"http://127.0.0.1:{public_port}", "-public-host", f"127.0.0.1:{public_port}",
                "-log-level", "error"]
        args += ["-backend", "filesystem", "-filesystem-root", root] if root else ["-backend", "memory"]
        if data:  # DIR/BUCKET/NAME files become objects at start-up
            args += ["-data", data]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        stdin=subprocess.DEVNULL)
        wait_for_port(self.port, process=self.process)


class DelayProxy(_Process):
    """tools/delay_proxy in front of `upstream_port`, adding `delay_ms` to every request."""

    def __init__(self, binary: str, upstream_port: int, delay_ms: float = 0.0, port: Optional[int] = None,
                 listing: Optional[tuple[str, str]] = None):
        """`listing`: (bucket, file of names) whose object listings the proxy answers itself."""
        self.port = port or free_port()
        extra = ["-list-bucket", listing[0], "-list-names", listing[1]] if listing else []
        self.process = subprocess.Popen([binary, "-upstream", f"http://127.0.0.1:{upstream_port}",
                                         "-listen", f"127.0.0.1:{self.port}", "-delay", f"{delay_ms}ms", *extra],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        stdin=subprocess.DEVNULL)
        wait_for_port(self.port, process=self.process)

    def _control(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__proxy/{path}", timeout=10) as answer:
            return answer.read()

    def stats(self) -> dict:
        return json.loads(self._control("stats"))

    def reset(self) -> None:
        self._control("reset")

    def set_delay(self, delay_ms: float) -> None:
        self._control(f"delay?ms={delay_ms}")

    def client_env(self) -> dict:
        """The two settings a user sets to point clipindex at an emulator."""
        return {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.port}", "GOOGLE_CLOUD_PROJECT": PROJECT}


def bucket_on(binaries: tuple[str, str], root: Optional[str] = None, delay_ms: float = 0.0):
    """(FakeGcs, DelayProxy), started; the caller stops both (use them as context managers)."""
    fake_binary, proxy_binary = binaries
    proxy_port = free_port()
    server = FakeGcs(fake_binary, proxy_port, root)
    try:
        proxy = DelayProxy(proxy_binary, server.port, delay_ms, port=proxy_port)
    except BaseException:
        server.stop()
        raise
    return server, proxy


def built_binaries() -> Optional[tuple[str, str]]:
    """Like `binaries`, but never builds fake-gcs-server (minutes): for tests, which skip without it.
    The proxy (standard library only) is built when missing, in about a second."""
    cache = os.environ.get("CLIPINDEX_CACHE") or os.path.join(REPO, ".cache")
    fake = os.path.join(cache, "bin", f"fake-gcs-server-{os.environ.get('FAKE_GCS_VERSION', 'v1.56.1')}")
    if not os.access(fake, os.X_OK):
        return None
    proxy = tool_binary("build_delay_proxy.sh")
    return (fake, proxy) if proxy else None


def binaries() -> Optional[tuple[str, str]]:
    """(fake-gcs-server, delay-proxy) paths, built on first use; None where Go cannot build them."""
    fake = tool_binary("fetch_fake_gcs.sh")
    proxy = tool_binary("build_delay_proxy.sh") if fake else None
    return (fake, proxy) if fake and proxy else None
