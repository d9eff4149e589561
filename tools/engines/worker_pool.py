"""Beam's Python SDK worker pool, bound to one address: one pool per Flink TaskManager.

`python -m apache_beam.runners.worker.worker_pool_main --service_port=P` binds [::]:P, so two
of them on one machine need two ports, while the EXTERNAL environment names one address that
every TaskManager dials (on Kubernetes each TaskManager pod reaches its own pool sidecar at
localhost:50000). A pool must not be shared by two TaskManagers: each numbers its SDK workers
from 1-1 on its own and the pool keys the processes it started by that id, so a StopWorker of
one TaskManager ends a worker of the other, whose task then waits forever ("Still waiting for
startup of environment ... for worker id 7-1"), and two pools sharing a port through
SO_REUSEPORT get each other's requests the same way.

So tools/engines/flink.sh gives TaskManager i a hosts file (-Djdk.net.hosts.file) in which
the environment's host name is 127.0.0.(10+i), and runs this pool there: the same servicer
as worker_pool_main (a `python` process per SDK worker, started from the first `python` on
PATH), on an address of its own, without SO_REUSEPORT so a taken address fails at once.

    python tools/engines/worker_pool.py --address 127.0.0.11:50000
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True, help="HOST:PORT to listen on")
    args = parser.parse_args(argv)

    import grpc
    from apache_beam.portability.api import beam_fn_api_pb2_grpc
    from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer, kill_process_gracefully
    from apache_beam.utils import thread_pool_executor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = grpc.server(thread_pool_executor.shared_unbounded_instance(),
                         options=[("grpc.so_reuseport", 0), ("grpc.http2.max_pings_without_data", 0),
                                  ("grpc.http2.max_ping_strikes", 0)])
    pool = BeamFnExternalWorkerPoolServicer(use_process=True)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    try:
        bound = server.add_insecure_port(args.address)
    except RuntimeError as error:  # grpcio >= 1.60 raises instead of returning 0
        print(f"worker_pool: cannot listen on {args.address}: {error}", file=sys.stderr)
        return 2
    if not bound:
        print(f"worker_pool: cannot listen on {args.address}", file=sys.stderr)
        return 2
    server.start()
    logging.info("SDK worker pool listening on %s", args.address)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop(0)
    for process in list(pool._worker_processes.values()):
        kill_process_gracefully(process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
