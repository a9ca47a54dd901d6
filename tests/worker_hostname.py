"""``[core] hostname_callable`` for test workers: each worker of one machine reports its own name,
as workers on separate machines would, so task instances tell which worker ran them."""

from __future__ import annotations

import os
import socket

#: The variable the stack sets per worker process.
HOSTNAME_VARIABLE = "AEP_TEST_WORKER_HOSTNAME"


def hostname() -> str:
    return os.environ.get(HOSTNAME_VARIABLE) or socket.getfqdn()
