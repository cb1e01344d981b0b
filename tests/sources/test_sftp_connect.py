"""The connection steps' failures, each named for setup-test (no SSH server needed)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from sftp_watcher.config import SftpSourceConfig
from sftp_watcher.errors import ConnectFailed
from sftp_watcher.sources.sftp import SessionLimiter, SftpSource, connect_socket


def config(port: int, **values: object) -> SftpSourceConfig:
    return SftpSourceConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": port,
            "username": "u",
            "password": "pw",
            "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==",
            "connect_timeout_seconds": 1,
            **values,
        }
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake_server() -> Iterator[tuple[socket.socket, list[bytes]]]:
    """A TCP listener on 127.0.0.1; each connection gets the queued greeting (or silence)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # so the accept loop notices the end of the test
    greetings: list[bytes] = []
    accepted: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)
            if greetings:
                conn.sendall(greetings.pop(0))
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener, greetings
    done.set()
    thread.join(timeout=5)
    listener.close()
    for conn in accepted:
        conn.close()


def test_nothing_listening_is_refused() -> None:
    with pytest.raises(ConnectFailed) as caught:
        SftpSource("acme", config(free_port()), limiter=SessionLimiter()).open()
    assert caught.value.reason == "refused"
    assert caught.value.customer == "acme"


def test_unknown_host_name_is_a_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(ConnectFailed, match=r"sftp\.nowhere\.example") as caught:
        connect_socket(config(22, host="sftp.nowhere.example"), customer="acme")
    assert caught.value.reason == "dns"


def test_a_server_that_is_not_ssh_is_named_as_such(
    fake_server: tuple[socket.socket, list[bytes]],
) -> None:
    listener, greetings = fake_server
    greetings.append(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    port = listener.getsockname()[1]
    with pytest.raises(ConnectFailed) as caught:
        SftpSource("acme", config(port), limiter=SessionLimiter()).open()
    assert caught.value.reason == "not_ssh"


def test_a_silent_server_is_given_up_on_after_the_connect_timeout(
    fake_server: tuple[socket.socket, list[bytes]],
) -> None:
    listener, _ = fake_server  # accepts, then never says a word
    port = listener.getsockname()[1]
    with pytest.raises(ConnectFailed) as caught:
        SftpSource(
            "acme", config(port, connect_timeout_seconds=0.3), limiter=SessionLimiter()
        ).open()
    assert caught.value.reason == "not_ssh"


def test_a_failed_connect_gives_back_its_session_slot() -> None:
    limiter = SessionLimiter()
    cfg = config(free_port(), max_sessions_per_host=1)
    for _ in range(2):  # the second would hit the cap if the first had kept its slot
        with pytest.raises(ConnectFailed):
            SftpSource("acme", cfg, limiter=limiter).open()
