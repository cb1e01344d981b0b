"""The email channel beside sweep processes (``processes`` > 1; SPEC 9, 11).

It runs once per replica, in the parent, as the upload page does, and not in a sweep
process: on PostgreSQL each child is a replica of its own (each would open the mailbox),
a child is restarted at will, and on SQLite a child flushes only its own accounts'
emails. The parent is there for the replica's whole life and holds one IMAP connection.

It has its own state handle, Phonon client and outbox; the outbox sends the channel's
emails (the answers and the account-holder emails of emailed uploads) and only those.
On SQLite the children leave those emails alone (``Outbox.mailbox``), so each is sent by
one process only; on PostgreSQL the outbox's row locks keep the senders apart anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import TracebackType
from typing import Self

import structlog

from sftp_watcher.config import Settings
from sftp_watcher.mailbox.channel import EmailChannel
from sftp_watcher.notify.send import make_sender
from sftp_watcher.outbox import Outbox
from sftp_watcher.phonon import make_client
from sftp_watcher.pipeline import Clock, utc_now
from sftp_watcher.poller import SweepResult
from sftp_watcher.state.locks import AccountLocks
from sftp_watcher.state.store import Store

log = structlog.get_logger("sftp_watcher.mailbox")

# How often the emails still due (a mail server that was down) are tried again; as the
# sweep service's outbox job.
RETRY_INTERVAL_SECONDS = 15.0


class MailboxService:
    """The channel's parts, owned and closed together; ``start`` runs it in threads,
    ``poll_once`` drains the mailbox once."""

    def __init__(self, settings: Settings, *, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stack = ExitStack()
        try:
            self.store = Store.open(settings.state_url)
            self._stack.callback(self.store.close)
            trigger = make_client(settings.phonon)
            self._stack.callback(trigger.close)
            locks = AccountLocks(self.store.engine)
            sender = make_sender(settings.email)
            self.outbox = Outbox(self.store, sender, clock, mailbox=True, locks=locks)
            self._stack.callback(self.outbox.close)
            self.channel = EmailChannel(
                settings,
                self.store,
                trigger,
                locks,
                handover=self.outbox.handing_over,
                flush=self.outbox.flush,
                clock=clock,
                stop=self.stop,
            )
        except BaseException:
            self._stack.close()
            raise

    def poll_once(self) -> tuple[SweepResult, int]:
        """One drain of the mailbox, then the channel's emails still due; the drain's
        result and how many emails went out."""
        sent_before = self.outbox.sent_total
        result = self.channel.poll_result()
        self.outbox.flush()
        return result, self.outbox.sent_total - sent_before

    def start(self) -> None:
        """The mailbox and the retries of its emails, each in a thread, until ``close``."""
        for target, name in ((self.channel.run, "mailbox"), (self._retry, "mailbox-outbox")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("email.channel_started", channel="email", process="parent")

    def _retry(self) -> None:
        # The outbox's first run is at once: emails left by a stop go out at the start.
        while True:
            try:
                self.outbox.flush()
            except Exception as exc:  # the thread must outlive any surprise
                log.exception("email.outbox_failed", error=str(exc))
            if self.stop.wait(RETRY_INTERVAL_SECONDS):
                return

    def close(self) -> None:
        """Stop waiting for mail, let the message in hand finish, close the parts."""
        self.stop.set()
        for thread in self._threads:
            thread.join(self.settings.shutdown_deadline_seconds)
        self._threads = []
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def mailbox_running(settings: Settings) -> Iterator[MailboxService | None]:
    """The email channel run for the block when ``email_upload`` is set (else nothing)."""
    if settings.email_upload is None:
        yield None
        return
    with MailboxService(settings) as service:
        service.start()
        yield service
