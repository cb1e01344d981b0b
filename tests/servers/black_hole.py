"""A loopback port where a TCP connection is never established, as behind a firewall
that drops packets: a listener that never accepts, its queue already full, so the
kernel drops every further SYN and the client's connect waits until its own timeout."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def black_hole_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port: int = listener.getsockname()[1]
        queued: list[socket.socket] = []
        try:
            while True:  # fill the accept queue: usually one connection does it
                probe = socket.socket()
                probe.settimeout(0.3)
                try:
                    probe.connect(("127.0.0.1", port))
                except TimeoutError:
                    probe.close()
                    break
                queued.append(probe)
                if len(queued) > 16:
                    raise RuntimeError("the kernel keeps accepting: cannot make a black hole")
            yield port
        finally:
            for probe in queued:
                probe.close()
