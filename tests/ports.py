"""Free TCP ports for the servers tests start (Orthanc, PostgreSQL, a silent listener).

Run serially, the kernel's choice is enough. On pytest-xdist workers (the README's test command) two
workers asking the kernel at once can be handed the same port, or a port another worker's client
then takes as its own end: each worker takes ports from its own block, below Linux's ephemeral
range (32768-60999), so no worker's server and no outgoing connection can collide with another's.
"""

from __future__ import annotations

import itertools
import os
import socket

LOOPBACK = "127.0.0.1"
FIRST_PORT = 20000          # below the ephemeral range, above the well-known and most registered services
PORTS_PER_WORKER = 1000

_next = itertools.count()


def _binds(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A TCP port nobody listens on now; a port is handed out once per worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((LOOPBACK, 0))
            return probe.getsockname()[1]
    first = FIRST_PORT + int(worker[2:]) * PORTS_PER_WORKER
    for _ in range(PORTS_PER_WORKER):
        port = first + next(_next) % PORTS_PER_WORKER
        if _binds(port):
            return port
    raise RuntimeError(f"no free port in {first}-{first + PORTS_PER_WORKER - 1} for {worker}")
