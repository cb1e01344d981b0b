"""How the account holder's email goes out: SMTP, or ``.eml`` files in a folder.

Each sender does one attempt; the durable outbox in the state database retries.
smtplib, socket and ssl errors are translated here into ``MailError`` whose text
says which step failed (connect, TLS, authentication, sender, recipients).
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import structlog

from sftp_watcher.config import EmailConfig, SmtpConfig
from sftp_watcher.errors import MailError

log = structlog.get_logger(__name__)


class MailSender(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand the message over once; ``MailError`` on any failure."""


class SmtpSender:
    """One SMTP connection per message; ``security`` is ``starttls``, ``ssl`` or ``none``."""

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._target = f"mail server {config.host}:{config.port}"

    def __repr__(self) -> str:
        c = self._config
        return (
            f"SmtpSender(host={c.host!r}, port={c.port}, security={c.security!r}, "
            f"username={c.username!r})"
        )

    def send(self, message: EmailMessage) -> None:
        with self._session() as smtp:
            if self._config.security == "starttls":
                self._start_tls(smtp)
            if self._config.username is not None:
                self._login(smtp)
            self._deliver(smtp, message)

    @contextmanager
    def _session(self) -> Iterator[smtplib.SMTP]:
        smtp = self._connect()
        try:
            yield smtp
        finally:
            # The message's fate is decided by now; a failed goodbye changes nothing.
            with suppress(OSError, smtplib.SMTPException):
                smtp.quit()
            smtp.close()

    def _connect(self) -> smtplib.SMTP:
        c = self._config
        # smtplib closes its socket itself when the greeting or TLS handshake fails.
        try:
            if c.security == "ssl":
                return smtplib.SMTP_SSL(
                    c.host, c.port, timeout=c.timeout_seconds, context=ssl.create_default_context()
                )
            return smtplib.SMTP(c.host, c.port, timeout=c.timeout_seconds)
        except ssl.SSLError as exc:
            raise MailError(f"TLS failure with {self._target}: {_ssl_reason(exc)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot connect to {self._target}: {_describe(exc)}") from exc

    def _start_tls(self, smtp: smtplib.SMTP) -> None:
        try:
            smtp.starttls(context=ssl.create_default_context())
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

    def _deliver(self, smtp: smtplib.SMTP, message: EmailMessage) -> None:
        try:
            refused = smtp.send_message(message)
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
                "email_recipients_refused",
                message_id=message["Message-ID"],
                refused=_refusals(refused),
            )


class FileSender:
    """Writes ``<directory>/<message-id>.eml``: the same Message-ID sent twice leaves one file."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def __repr__(self) -> str:
        return f"FileSender(directory={str(self._directory)!r})"

    def path_for(self, message: EmailMessage) -> Path:
        message_id = message["Message-ID"]
        if not message_id or not str(message_id).strip("<> "):
            raise MailError("the message has no Message-ID to name its .eml file by")
        stem = re.sub(r"[^A-Za-z0-9._@+=-]", "_", str(message_id).strip().strip("<>"))
        return self._directory / f"{stem[:200]}.eml"

    def send(self, message: EmailMessage) -> None:
        target = self.path_for(message)
        data = message.as_bytes()
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
        return f"certificate not trusted ({exc.verify_message})"
    if exc.reason == "WRONG_VERSION_NUMBER":
        return "the server did not answer in TLS (check email.smtp.port and security)"
    return exc.reason or str(exc)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{addr} ({code} {_text(reply)})" for addr, (code, reply) in refused.items())


def _scrub(text: str, secret: str) -> str:
    # A server may echo what it received; the password must never reach an error or a log.
    return text.replace(secret, "**********") if secret else text
