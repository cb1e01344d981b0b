"""Waiting for a test server started as a process to greet on its port."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

START_TIMEOUT_SECONDS = 15.0


def wait_for_greeting(
    port: int,
    greeting: bytes,
    process: subprocess.Popen[bytes] | None,
    *,
    label: str,
    log: Callable[[], str],
    give_up: Callable[[], None],
) -> None:
    """Return once a connection to ``port`` reads ``greeting`` first; raise (after
    ``give_up``, which stops the server) if the process exits or the time runs out."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{label} exited at start:\n{log()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.settimeout(5)
                if sock.recv(64).startswith(greeting):
                    return
        except OSError:
            time.sleep(0.05)
    give_up()
    raise RuntimeError(f"{label} did not answer on port {port}:\n{log()}")
