"""The metrics/health port under a flood: loopback by default, bounded threads, timeouts."""

from __future__ import annotations

import select
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from sftp_watcher.config import Settings
from sftp_watcher.observability import health
from sftp_watcher.observability.health import HealthServer

HALF_SENT = 300


def healthz(port: int) -> bytes | None:
    """/healthz's body, or None when the server refused or dropped the connection."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            return bytes(answer.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def handler_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("Thread-"))


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HealthServer]:
    # A short timeout keeps the test short; the rule is the same at 5 s.
    monkeypatch.setattr(health._Handler, "timeout", 1.0)
    with HealthServer("127.0.0.1", 0) as running:
        yield running


def test_default_host_is_loopback() -> None:
    assert Settings().metrics_host == "127.0.0.1"
    assert HealthServer().host == "127.0.0.1"


def test_half_sent_requests_use_a_bounded_number_of_threads(server: HealthServer) -> None:
    """300 half-sent requests: at most 32 handler threads, and /healthz answers again."""
    before = handler_threads()
    with ExitStack() as stack:
        conns = []
        for _ in range(HALF_SENT):
            conn = stack.enter_context(socket.create_connection(("127.0.0.1", server.port), 10))
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line: half sent
            conns.append(conn)
        busy = handler_threads() - before
        # The server closes every one of them: refused at once, or timed out when served.
        closed = [conn.recv(1024) for conn in conns]
        answer = healthz(server.port)
    assert busy <= health.MAX_HANDLERS
    assert closed == [b""] * HALF_SENT
    assert answer == b"ok\n"


def test_a_silent_connection_is_dropped_by_the_server(server: HealthServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\n")
        # The server closes it (empty read) instead of waiting for the rest for ever.
        assert conn.recv(1024) == b""


def test_a_trickled_request_is_cut_at_the_connection_deadline(
    server: HealthServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte every 0.2 s never trips the per-read timeout; the deadline still ends it."""
    monkeypatch.setattr(health, "CONNECTION_DEADLINE_SECONDS", 1.0)
    closed = False
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        for _ in range(150):  # 30 s of trickling at most
            readable, _, _ = select.select([conn], [], [], 0.2)
            if readable and conn.recv(1024) == b"":
                closed = True
                break
            try:
                conn.sendall(b"a")
            except OSError:  # reset: closed as well
                closed = True
                break
    assert closed
