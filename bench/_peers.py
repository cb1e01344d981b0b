"""The Phonon stub and the SMTP sink in a process of their own.

In production Phonon and the mail server are other machines: their CPU is not the
service's. Run in the benchmark's own process, the stub's HTTP parsing and the sink's
event loop would take the interpreter lock from the service being measured, so the
benches that time the service in-process start them here, behind a pipe.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from tests.servers.phonon_stub import PhononStub
from tests.servers.rig import FLOW_ID, SECRET
from tests.servers.smtp import SmtpTestServer

START_TIMEOUT = 30.0


@dataclass
class Peers:
    """Where the peers listen, and a way to ask them what they received."""

    realtime_url: str
    bulk_url: str
    smtp: dict[str, Any]
    _control: Connection

    def received(self) -> tuple[int, int]:
        """(emails, accepted Phonon calls) so far."""
        self._control.send("received")
        emails, calls = self._control.recv()
        return int(emails), int(calls)


@contextmanager
def peer_servers() -> Iterator[Peers]:
    # spawn, not fork: the benchmark process already runs threads (sshd reader, pools).
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs,), name="bench-peers", daemon=True)
    process.start()
    try:
        if not ours.poll(START_TIMEOUT):
            raise RuntimeError("the Phonon stub and SMTP sink did not start")
        realtime, bulk, smtp = ours.recv()
        yield Peers(realtime, bulk, smtp, ours)
    finally:
        ours.send("stop")
        process.join(10)
        if process.is_alive():
            process.kill()


def _serve(control: Connection) -> None:
    stub = PhononStub(keep_alive=True)
    stub.register_flow(FLOW_ID, SECRET)
    sink = SmtpTestServer()
    sink.start()
    try:
        smtp = sink.config().model_dump(mode="json")
        control.send((stub.realtime_url, stub.bulk_url, smtp))
        while (command := control.recv()) != "stop":
            if command == "received":
                control.send((len(sink.messages), len(stub.accepted_calls)))
    finally:
        sink.stop()
        stub.close()
