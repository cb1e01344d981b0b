"""How the account holder's email goes out: SMTP, or ``.eml`` files in a folder.

Each send is one attempt; the durable outbox in the state database retries. A
``session()`` lets the outbox hand over every due email on one SMTP connection.
smtplib, socket and ssl errors are translated here into ``MailError`` whose text
says which step failed (connect, TLS, authentication, sender, recipients).
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import smtplib
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, suppress
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol

import structlog

from sftp_watcher.config import EmailConfig, SmtpConfig
from sftp_watcher.errors import MailError

log = structlog.get_logger(__name__)

# The kept connection died between two messages (the server's idle timeout or its
# messages-per-connection limit): nothing of the next message was taken yet.
_STALE_LINK = (smtplib.SMTPServerDisconnected, ConnectionError)


class MailSession(Protocol):
    def send(self, message: Message) -> None:
        """Hand the message over once; ``MailError`` on any failure."""

    def send_raw(self, raw: bytes) -> None:
        """Hand over a message rendered to bytes before (the outbox keeps them), unchanged."""


class MailConnection(MailSession, Protocol):
    def close(self) -> None:
        """Hang up (an SMTP connection opens at its first send)."""


class MailSender(MailSession, Protocol):
    def session(self) -> AbstractContextManager[MailSession]:
        """Several sends in one block; an SMTP sender keeps one connection for them."""

    def connection(self) -> MailConnection:
        """A connection to keep for several sends; the caller closes it."""


class SmtpSender:
    """SMTP, ``security`` ``starttls``, ``ssl`` or ``none``; a connection per send or session."""

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._target = f"mail server {config.host}:{config.port}"

    def __repr__(self) -> str:
        c = self._config
        return (
            f"SmtpSender(host={c.host!r}, port={c.port}, security={c.security!r}, "
            f"username={c.username!r})"
        )

    def send(self, message: Message) -> None:
        with self.session() as session:
            session.send(message)

    def send_raw(self, raw: bytes) -> None:
        with self.session() as session:
            session.send_raw(raw)

    @contextmanager
    def session(self) -> Iterator[MailSession]:
        """One connection, opened at the first send and closed when the block ends."""
        with closing(self.connection()) as connection:
            yield connection

    def connection(self) -> MailConnection:
        return _SmtpSession(self)

    def open(self) -> smtplib.SMTP:
        """A connection ready to send: connected, TLS started, logged in."""
        smtp = self._connect()
        try:
            if self._config.security == "starttls":
                self._start_tls(smtp)
            if self._config.username is not None:
                self._login(smtp)
        except BaseException:
            _hang_up(smtp)
            raise
        return smtp

    def _connect(self) -> smtplib.SMTP:
        c = self._config
        # smtplib closes its socket itself when the greeting or TLS handshake fails.
        try:
            if c.security == "ssl":
                return smtplib.SMTP_SSL(
                    c.host, c.port, timeout=c.timeout_seconds, context=self._tls_context()
                )
            return smtplib.SMTP(c.host, c.port, timeout=c.timeout_seconds)
        except ssl.SSLError as exc:
            raise MailError(f"TLS failure with {self._target}: {_ssl_reason(exc)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot connect to {self._target}: {_describe(exc)}") from exc

    def _tls_context(self) -> ssl.SSLContext:
        """The system's trusted CAs, or ``ca_file``'s; certificate and name always checked."""
        ca_file = self._config.ca_file
        try:
            return ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise MailError(f"email.smtp.ca_file {ca_file} is not usable: {exc}") from exc

    def _start_tls(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.starttls(context=self._tls_context())
        except ssl.SSLError as exc:
            raise MailError(f"TLS failure with {self._target}: {_ssl_reason(exc)}") from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(
                f"TLS failure with {self._target}: it does not offer STARTTLS "
                "(set email.smtp.security to ssl or none)"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"TLS failure with {self._target}: {_describe(exc)}") from exc

    def _login(self, smtp: smtplib.SMTP) -> None:
        user = self._config.username
        password = self._config.password
        secret = password.get_secret_value() if password is not None else ""
        try:
            smtp.login(user or "", secret)
        except smtplib.SMTPAuthenticationError as exc:
            detail = _scrub(_describe(exc), secret)
            raise MailError(
                f"authentication failed at {self._target} for user {user!r}: {detail}"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(
                f"authentication failed at {self._target}: it offers no AUTH "
                "(it may need security: starttls, or no username)"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            detail = _scrub(_describe(exc), secret)
            raise MailError(f"authentication failed at {self._target}: {detail}") from exc

    def deliver(self, smtp: smtplib.SMTP, hand_over: _HandOver, message_id: object) -> None:
        """Run one message's MAIL, RCPT and DATA on an open connection."""
        try:
            refused = hand_over(smtp)
        except smtplib.SMTPSenderRefused as exc:
            raise MailError(
                f"sender refused by {self._target}: {exc.sender} "
                f"({exc.smtp_code} {_text(exc.smtp_error)})"
            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(
                f"recipients refused by {self._target}: {_refusals(exc.recipients)}"
            ) from exc
        except smtplib.SMTPDataError as exc:
            raise MailError(
                f"message refused by {self._target}: {exc.smtp_code} {_text(exc.smtp_error)}"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"sending through {self._target} failed: {_describe(exc)}") from exc
        if refused:
            # Some recipients have it; raising would make the retry send it to them again.
            log.warning(
                "email_recipients_refused", message_id=message_id, refused=_refusals(refused)
            )


_HandOver = Callable[[smtplib.SMTP], dict[str, tuple[int, bytes]]]


class _SmtpSession:
    """Messages of one ``SmtpSender.session()``, one after another on one connection."""

    def __init__(self, sender: SmtpSender) -> None:
        self._sender = sender
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: Message) -> None:
        self._send(lambda smtp: smtp.send_message(message), message["Message-ID"])

    def send_raw(self, raw: bytes) -> None:
        # Only the header block is parsed: the envelope is all that is needed from it.
        head = _BLANK_LINE.split(raw, maxsplit=1)[0]
        headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(head)
        if not _plain_envelope(head, headers):
            # Blind copies to strip, or addresses that need SMTPUTF8: smtplib knows how.
            message = email.message_from_bytes(raw, policy=email.policy.default)
            self._send(lambda smtp: smtp.send_message(message), headers["Message-ID"])
            return
        # The outbox keeps the bytes render() made; sending them as they are spares
        # parsing and re-generating the whole message (what send_message would do).
        sender = getaddresses(headers.get_all("Sender", []) or headers.get_all("From", []))
        recipients = getaddresses([*headers.get_all("To", []), *headers.get_all("Cc", [])])
        from_addr = sender[0][1] if sender else ""
        to_addrs = [address for _, address in recipients]
        data = _CRLF.sub(b"\r\n", raw)
        self._send(lambda smtp: smtp.sendmail(from_addr, to_addrs, data), headers["Message-ID"])

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            _hang_up(smtp)

    def _send(self, hand_over: _HandOver, message_id: object) -> None:
        reused = self._smtp is not None
        if self._smtp is None:
            self._smtp = self._sender.open()
        try:
            self._sender.deliver(self._smtp, hand_over, message_id)
            return
        except MailError as exc:
            self.close()
            if not (reused and isinstance(exc.__cause__, _STALE_LINK)):
                raise
        self._smtp = self._sender.open()
        try:
            self._sender.deliver(self._smtp, hand_over, message_id)
        except MailError:
            self.close()
            raise


def _hang_up(smtp: smtplib.SMTP) -> None:
    """QUIT and close. The messages' fate is decided by now: a failed goodbye changes nothing."""
    with suppress(OSError, smtplib.SMTPException):
        smtp.quit()
    smtp.close()


_CRLF = re.compile(rb"\r\n|\n|\r(?!\n)")  # every line ending, as SMTP wants them: CRLF
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")  # ends the headers


def _plain_envelope(head: bytes, headers: Message) -> bool:
    """No Bcc to strip and ASCII-only headers (``head``): the bytes can go out unchanged."""
    if any(name in headers for name in ("Bcc", "Resent-Bcc", "Resent-Date")):
        return False
    return head.isascii()


class FileSender:
    """Writes ``<directory>/<message-id>.eml``: the same Message-ID sent twice leaves one file."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def __repr__(self) -> str:
        return f"FileSender(directory={str(self._directory)!r})"

    def path_for(self, message: Message) -> Path:
        message_id = message["Message-ID"]
        if not message_id or not str(message_id).strip("<> "):
            raise MailError("the message has no Message-ID to name its .eml file by")
        stem = re.sub(r"[^A-Za-z0-9._@+=-]", "_", str(message_id).strip().strip("<>"))
        return self._directory / f"{stem[:200]}.eml"

    @contextmanager
    def session(self) -> Iterator[MailSession]:
        yield self

    def connection(self) -> MailConnection:
        return self

    def close(self) -> None:
        """Nothing to hang up: each message is a file of its own."""

    def send(self, message: Message) -> None:
        self._write(self.path_for(message), message.as_bytes())

    def send_raw(self, raw: bytes) -> None:
        headers = BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        self._write(self.path_for(headers), raw)

    def _write(self, target: Path, data: bytes) -> None:
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            # Temp file + rename: a reader (or a crash) never sees half a message.
            fd, temp_name = tempfile.mkstemp(dir=self._directory, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as temp:
                    temp.write(data)
                    temp.flush()
                    os.fsync(temp.fileno())
                Path(temp_name).replace(target)
            except BaseException:
                with suppress(OSError):
                    Path(temp_name).unlink()
                raise
        except OSError as exc:
            raise MailError(f"cannot write {target}: {exc.strerror or exc}") from exc


class MailPool:
    """Connections kept between sends, one for each thread sending at the moment.

    The sweeps deliver their own emails, several at a time: each borrows a kept connection
    instead of connecting (and saying EHLO, STARTTLS, AUTH) for every message. One idle
    for ``idle_seconds`` is hung up before it would be lent again, and by ``close_idle``.
    """

    def __init__(self, sender: MailSender, *, idle_seconds: float = 30.0) -> None:
        self._sender = sender
        self._idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._idle: list[tuple[float, MailConnection]] = []  # (monotonic time returned, ...)

    @contextmanager
    def connection(self) -> Iterator[MailSession]:
        self.close_idle()
        with self._lock:
            connection = self._idle.pop()[1] if self._idle else None
        if connection is None:
            connection = self._sender.connection()
        try:
            yield connection
        except BaseException:
            connection.close()  # in an unknown state: not lent again
            raise
        with self._lock:
            self._idle.append((time.monotonic(), connection))

    def close_idle(self, idle_seconds: float | None = None) -> None:
        """Hang up the connections idle for ``idle_seconds`` (the pool's own by default)."""
        limit = self._idle_seconds if idle_seconds is None else idle_seconds
        now = time.monotonic()
        with self._lock:
            stale = [c for returned, c in self._idle if now - returned >= limit]
            self._idle = [(r, c) for r, c in self._idle if now - r < limit]
        for connection in stale:
            connection.close()

    def close(self) -> None:
        self.close_idle(0.0)


def make_sender(config: EmailConfig) -> MailSender:
    """The sender ``email.backend`` names."""
    if config.backend == "file":
        return FileSender(config.file_dir)
    return SmtpSender(config.smtp)


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return " ".join(text.split())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _ssl_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"certificate not trusted ({exc.verify_message}); if the server's certificate "
            "comes from a private CA, point email.smtp.ca_file at that CA"
        )
    if exc.reason == "WRONG_VERSION_NUMBER":
        return "the server did not answer in TLS (check email.smtp.port and security)"
    return exc.reason or str(exc)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{addr} ({code} {_text(reply)})" for addr, (code, reply) in refused.items())


def _scrub(text: str, secret: str) -> str:
    # A server may echo what it received; the password must never reach an error or a log.
    return text.replace(secret, "**********") if secret else text
