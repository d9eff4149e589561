"""Beam's SDK worker process for the local runner's multi-processing mode, deaf to Ctrl-C.

Beam starts each SDK worker through `sh -c`, and the shell clears the signal mask the
launcher blocked for its children (pipeline.interrupts): Ctrl-C reached the workers,
each printed a KeyboardInterrupt traceback and died with the rows it had not yet
closed into the checkpoint, before the launcher could ask for them
(transforms.storage.keep_on_stop). Blocked again here, before Beam's harness starts a thread,
the signals never reach a worker; the launcher kills it once its rows are kept.
"""

from __future__ import annotations

import signal
import sys

from pipeline.interrupts import SIGNALS


def main() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)  # every thread the harness starts inherits it
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
