"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives.

``smtp_server`` is a plain server; ``make_smtp_server(username=..., password=...)``
builds one that requires AUTH. ``refused_senders`` / ``refused_recipients`` make it
answer 550; ``stop()`` takes it down and ``start()`` brings it back on the same port.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from functools import cached_property
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from sftp_watcher.config import SmtpConfig
from tests.servers.tls import TlsCertificates

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @cached_property
    def message(self) -> EmailMessage:
        # Parsed when a test looks: parsing was most of the server's CPU a message, which
        # the benchmarks' mail server spent beside the service being measured.
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


class _Handler:
    def __init__(self, server: SmtpTestServer) -> None:
        self._server = server

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if self._server.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if address in self._server.refused_senders:
            return "550 5.7.1 Sender not allowed"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self._server.refused_recipients:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content)
        self._server.messages.append(
            ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), raw)
        )
        return "250 Message accepted for delivery"


class SmtpTestServer:
    """An aiosmtpd server on a fixed loopback port that can go down and come back."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: Literal["starttls", "ssl"] | None = None,
        certificates: TlsCertificates | None = None,
    ) -> None:
        """``tls``: offer (and require) STARTTLS, or speak TLS from the first byte, with
        ``certificates``' server certificate."""
        if (tls is None) != (certificates is None):
            raise ValueError("tls and certificates go together")
        self.host = HOST
        self.tls = tls
        self.certificates = certificates
        self.port = _free_port()
        self.username = username
        self.password = password
        self.messages: list[ReceivedMail] = []
        self.refused_senders: set[str] = set()
        self.refused_recipients: set[str] = set()
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        auth: dict[str, Any] = {}
        if self.username is not None:
            # Plain AUTH on loopback (aiosmtpd otherwise insists on TLS first). AUTH is
            # enforced at MAIL FROM, as aiosmtpd's auth_required warns without TLS.
            auth = {"authenticator": self._authenticate, "auth_require_tls": False}
        if self.certificates is not None:
            context = self.certificates.server_context()
            if self.tls == "starttls":
                auth |= {"tls_context": context, "require_starttls": True}
            else:
                auth |= {"ssl_context": context}
        # A Controller's event loop is closed when it stops, so each start needs a new one.
        controller = Controller(_Handler(self), hostname=self.host, port=self.port, **auth)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def config(self, **overrides: Any) -> SmtpConfig:
        """An ``SmtpConfig`` pointing here, plain SMTP, with this server's credentials."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": self.tls or "none",
            "ca_file": self.certificates.ca_file if self.certificates else None,
            "username": self.username,
            "password": self.password,
            "timeout_seconds": 10,
        }
        values.update(overrides)
        return SmtpConfig.model_validate(values)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        # handled=False: aiosmtpd then answers 535 itself.
        return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[..., SmtpTestServer]]:
    """Factory: ``make_smtp_server(username="u", password="p")`` -> a started server."""
    servers: list[SmtpTestServer] = []

    def make(*, username: str | None = None, password: str | None = None) -> SmtpTestServer:
        server = SmtpTestServer(username=username, password=password)
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server(make_smtp_server: Callable[..., SmtpTestServer]) -> SmtpTestServer:
    """A running SMTP server on 127.0.0.1 without authentication."""
    return make_smtp_server()


def count_connections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Patch SmtpSender to count the SMTP connections it opens (one item each)."""
    from sftp_watcher.notify.send import SmtpSender

    opened: list[int] = []
    real_open = SmtpSender.open

    def counting_open(self: SmtpSender) -> smtplib.SMTP:
        opened.append(1)
        return real_open(self)

    monkeypatch.setattr(SmtpSender, "open", counting_open)
    return opened
