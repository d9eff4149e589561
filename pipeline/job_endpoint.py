"""Is the job server there? Asked before anything is listed, planned or locked.

Beam's PortableRunner waits for a job endpoint that does not answer for minutes
(5 min 3 s measured here with `--job_endpoint localhost:1`) and then fails with a
bare `FutureTimeoutError`. A TCP connect answers in milliseconds, so a job server
that is down (a cluster not started, a wrong port) is one clear line and exit 2.
"""

from __future__ import annotations

import socket
from typing import Optional

from pipeline.layout import flag_value
from pipeline.options import UsageProblem

CONNECT_TIMEOUT_S = 10.0
# Endpoints Beam resolves itself (it starts a job server in the launcher).
_STARTED_BY_BEAM = ("embed", "")


def check_job_endpoint(beam_args: list[str], timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    endpoint = flag_value(beam_args, "--job_endpoint")
    if endpoint is None or endpoint.strip() in _STARTED_BY_BEAM:
        return
    problem = _unreachable(endpoint.strip(), timeout_s)
    if problem:
        raise UsageProblem(
            f"the job server at --job_endpoint {endpoint} does not answer ({problem}): start it "
            f"(for the bundled Flink cluster: tools/engines/flink.sh start) or correct the endpoint")


def _unreachable(endpoint: str, timeout_s: float) -> Optional[str]:
    host, _, port = endpoint.rpartition(":")
    host = host.strip("[]") or "localhost"
    if not port.isdigit():
        return f"no port in {endpoint!r}; expected HOST:PORT"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__.lower().replace("error", " error")
