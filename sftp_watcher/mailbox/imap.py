"""The IMAP adapter: one connection to the channel's mailbox (IMAPClient behind it).

Every IMAPClient, imaplib, socket and TLS error is translated here into ``MailboxError``;
every command is bounded by ``imap.timeout_seconds``.
"""

from __future__ import annotations

import imaplib
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from sftp_watcher.errors import MailboxError, MailboxLoginFailed
from sftp_watcher.mailbox.settings import ImapConfig

# How often a waiting IDLE looks at its stop event, and how long one IDLE lasts.
_STOP_SLICE = 1.0
_IDLE_RENEW_SECONDS = 5.0

# The folders a processed message ends in (SPEC 11), beside the folder read.
OUTCOME_FOLDERS = ("Success", "Failure", "Rejected")

_ERRORS: tuple[type[BaseException], ...] = (
    IMAPClientError,
    imaplib.IMAP4.error,
    OSError,
    ssl.SSLError,
    EOFError,
)


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except LoginError as exc:
        raise MailboxLoginFailed(f"IMAP login refused: {exc}") from exc
    except _ERRORS as exc:
        raise MailboxError(f"IMAP {action} failed: {type(exc).__name__}: {exc}") from exc


class Mailbox:
    """The folder the channel reads, selected read-write; use as a context manager."""

    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self._imap: Any = None
        self.uidvalidity = 0

    def __repr__(self) -> str:
        c = self.config
        return f"Mailbox({c.username}@{c.host}:{c.port}/{c.folder})"

    def __enter__(self) -> Mailbox:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _context(self) -> ssl.SSLContext:
        cafile = str(self.config.ca_file) if self.config.ca_file else None
        return ssl.create_default_context(cafile=cafile)

    def open(self, *, select: bool = True) -> None:
        c = self.config
        with _translated("connect"):
            implicit = c.security == "ssl"
            self._imap = IMAPClient(
                c.host,
                c.port,
                ssl=implicit,
                ssl_context=self._context() if implicit else None,
                timeout=c.timeout_seconds,
            )
        try:
            with _translated("login"):
                if c.security == "starttls":
                    self._imap.starttls(self._context())
                self._imap.login(c.username, c.password.get_secret_value())
            if select:
                self.select()
        except BaseException:
            self.close()
            raise

    def select(self, folder: str | None = None) -> None:
        """Select ``folder`` (default: the folder read, whose UIDVALIDITY is kept)."""
        name = folder or self.config.folder
        with _translated(f"SELECT {name}"):
            status = self._imap.select_folder(name)
        if folder is None:
            self.uidvalidity = int(status[b"UIDVALIDITY"])

    def close(self) -> None:
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except _ERRORS:
            with suppress(*_ERRORS):
                imap.shutdown()

    @property
    def account(self) -> str:
        """The mailbox's identity in upload ids: user and host, never the password."""
        return f"{self.config.username}@{self.config.host}"

    def has(self, capability: str) -> bool:
        with _translated("CAPABILITY"):
            return bool(self._imap.has_capability(capability))

    def folders(self) -> set[str]:
        with _translated("LIST"):
            return {str(name) for _flags, _sep, name in self._imap.list_folders()}

    def create_missing(self, names: tuple[str, ...] = OUTCOME_FOLDERS) -> list[str]:
        """Create the folders of ``names`` that do not exist; returns those created."""
        existing = {f.lower() for f in self.folders()}
        created = []
        for name in names:
            if name.lower() not in existing:
                with _translated(f"CREATE {name}"):
                    self._imap.create_folder(name)
                created.append(name)
        return created

    def waiting(self) -> list[int]:
        """UIDs of the messages in the folder (each is moved out once processed)."""
        with _translated("SEARCH"):
            return sorted(int(uid) for uid in self._imap.search(["NOT", "DELETED"]))

    def sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of each message still there, without downloading it."""
        if not uids:
            return {}
        with _translated("FETCH RFC822.SIZE"):
            found = self._imap.fetch(uids, ["RFC822.SIZE"])
        return {int(uid): int(data[b"RFC822.SIZE"]) for uid, data in found.items()}

    def fetch_many(self, uids: list[int]) -> dict[int, bytes]:
        """The whole messages still there, by UID, not marked seen (one command)."""
        if not uids:
            return {}
        with _translated("FETCH"):
            found = self._imap.fetch(uids, ["BODY.PEEK[]"])
        return {int(uid): bytes(data[b"BODY[]"]) for uid, data in found.items()}

    def fetch(self, uid: int) -> bytes | None:
        """The whole message, not marked seen; None when it is gone."""
        with _translated("FETCH"):
            found = self._imap.fetch([uid], ["BODY.PEEK[]"])
        data = found.get(uid)
        return None if data is None else bytes(data[b"BODY[]"])

    def move(self, uid: int, folder: str) -> None:
        self.move_many([uid], folder)

    def move_many(self, uids: list[int], folder: str) -> None:
        """No copy is left in the folder read: MOVE, or COPY then \\Deleted and expunge
        (UID EXPUNGE where the server has UIDPLUS, so no one else's deletion is expunged)."""
        with _translated(f"MOVE to {folder}"):
            if self._imap.has_capability("MOVE"):
                self._imap.move(uids, folder)
                return
            self._imap.copy(uids, folder)
            self._imap.add_flags(uids, [b"\\Deleted"], silent=True)
            if self._imap.has_capability("UIDPLUS"):
                self._imap.uid_expunge(uids)
            else:
                self._imap.expunge()

    def append(self, folder: str, message: bytes) -> int | None:
        """APPEND (setup-test's probe); the new UID when the server says it (UIDPLUS)."""
        with _translated(f"APPEND to {folder}"):
            answer = self._imap.append(folder, message)
        text = answer.decode(errors="replace") if isinstance(answer, bytes) else str(answer)
        if "APPENDUID" not in text:
            return None
        return int(text.split("APPENDUID", 1)[1].split("]")[0].split()[1])

    def delete(self, uid: int) -> None:
        """Remove one message of the selected folder for good (setup-test's probe)."""
        with _translated("DELETE"):
            self._imap.add_flags([uid], [b"\\Deleted"], silent=True)
            if self._imap.has_capability("UIDPLUS"):
                self._imap.uid_expunge([uid])
            else:
                self._imap.expunge()

    def find(self, header: str, value: str) -> list[int]:
        """UIDs of the selected folder's messages whose ``header`` contains ``value``."""
        with _translated("SEARCH"):
            return sorted(int(uid) for uid in self._imap.search(["HEADER", header, value]))

    def wait(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """Block until the server announces a change (IDLE), ``seconds`` pass or ``stop``
        is set; without IDLE, only a NOOP: the caller polls. True when the server spoke.

        Each IDLE is ended (DONE) after a few seconds and issued again: a notice that came
        in with the IDLE's own greeting waits in the client's buffer, where watching the
        socket would never see it, and DONE's answer carries it.
        """
        deadline = time.monotonic() + seconds
        with _translated("IDLE"):
            if not self._imap.has_capability("IDLE"):
                self._imap.noop()
                return False
            responses: list[Any] = []
            while not responses and not (stop and stop.is_set()):
                renew = min(deadline, time.monotonic() + _IDLE_RENEW_SECONDS)
                self._imap.idle()
                try:
                    while not responses and not (stop and stop.is_set()):
                        left = renew - time.monotonic()
                        if left <= 0:
                            break
                        responses = self._imap.idle_check(timeout=min(left, _STOP_SLICE))
                finally:
                    responses += self._imap.idle_done()[1]
                if time.monotonic() >= deadline:
                    break
        return bool(responses)
