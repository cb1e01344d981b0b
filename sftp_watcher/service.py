"""Wiring: builds the service's parts from the settings, and the one-pass `poll-once`.

Everything opened here is owned by the ``Service`` and closed by ``close()`` (or
the ``with`` block), in reverse order.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import structlog

from sftp_watcher.config import CustomerConfig, Settings, SftpSourceConfig
from sftp_watcher.errors import ConfigError
from sftp_watcher.mailbox.channel import EmailChannel
from sftp_watcher.notify.send import make_sender
from sftp_watcher.outbox import Outbox
from sftp_watcher.passes import PassResult, pending_emails
from sftp_watcher.phonon import make_client
from sftp_watcher.pipeline import Clock, utc_now
from sftp_watcher.poller import Account, SweepResult
from sftp_watcher.shares import Share
from sftp_watcher.sources import source_for
from sftp_watcher.state.locks import AccountLocks
from sftp_watcher.state.store import Store

log = structlog.get_logger("sftp_watcher.service")


def _has_slot_for_each(customer: CustomerConfig, customers: list[CustomerConfig]) -> bool:
    """Whether every account on ``customer``'s SFTP server can keep its session open.

    Sessions to one server are capped (``max_sessions_per_host``); an account that kept
    its session between sweeps would hold a slot for good, so when the server's accounts
    outnumber its slots each account releases its session after every sweep.
    """
    source = customer.source
    if not isinstance(source, SftpSourceConfig):
        return True
    server = (source.host.lower(), source.port)
    sharing = [
        c.source
        for c in customers
        if isinstance(c.source, SftpSourceConfig)
        and (c.source.host.lower(), c.source.port) == server
    ]
    return len(sharing) <= min(s.max_sessions_per_host for s in sharing)


@dataclass
class Service:
    settings: Settings
    clock: Clock = utc_now
    stop: threading.Event = field(default_factory=threading.Event)
    # One of several sweep processes: only these accounts, and (SQLite) their emails.
    share: Share | None = None

    def __post_init__(self) -> None:
        self._stack = ExitStack()
        try:
            self.store = Store.open(self.settings.state_url)
            self._stack.callback(self.store.close)
            self.trigger = make_client(self.settings.phonon)
            self._stack.callback(self.trigger.close)
            customers = self.settings.customers
            if self.share is not None:
                share = self.share
                customers = [share.customer(c) for c in customers if share.owns(c.id)]
            # SQLite has no row locks to keep two processes off one email: each flushes
            # its own accounts' emails, and the parent the email channel's (PostgreSQL's
            # SKIP LOCKED divides them anyway).
            apart = self.share is not None and not self.store.shared
            mine = self.share.customers if self.share and apart else None
            sender = make_sender(self.settings.email)
            self.locks = AccountLocks(self.store.engine)
            self.outbox = Outbox(
                self.store,
                sender,
                self.clock,
                customers=mine,
                mailbox=False if apart else None,
                locks=self.locks,
            )
            self._stack.callback(self.outbox.close)
            self.accounts = {c.id: self._account(c, customers) for c in customers}
            self.email = self._email_channel()
        except BaseException:
            self._stack.close()
            raise
        if self.settings.phonon.dry_run:
            log.warning(
                "phonon.dry_run",
                message="DRY RUN: nothing is sent to Phonon; requests are recorded in "
                f"{self.settings.phonon.dry_run_log}",
            )

    def _account(self, customer: CustomerConfig, customers: list[CustomerConfig]) -> Account:
        account = Account(
            self.settings,
            customer,
            source=source_for(customer.id, customer.source),
            store=self.store,
            trigger=self.trigger,
            locks=self.locks,
            stop=self.stop,
            clock=self.clock,
            keep_connection=_has_slot_for_each(customer, customers),
            handover=self.outbox.handing_over,
        )
        self._stack.callback(account.close)
        return account

    def _email_channel(self) -> EmailChannel | None:
        """The mailbox door (SPEC 11); with ``processes`` > 1 the parent runs it
        (``sftp_watcher.mailbox.parent``), not the sweep processes."""
        if self.settings.email_upload is None or self.settings.processes > 1:
            return None
        return EmailChannel(
            self.settings,
            self.store,
            self.trigger,
            self.locks,
            handover=self.outbox.handing_over,
            flush=self.outbox.flush,
            clock=self.clock,
            stop=self.stop,
        )

    def drain_mailbox(self) -> SweepResult | None:
        """One pass over the upload mailbox (``EmailChannel.poll_result``); None when the
        channel is off here."""
        return None if self.email is None else self.email.poll_result()

    def select(self, customer_id: str | None) -> list[Account]:
        if customer_id is None:
            return list(self.accounts.values())
        if customer_id not in self.accounts:
            known = ", ".join(self.accounts) or "none configured"
            raise ConfigError([f"--customer: no customer {customer_id!r} (known: {known})"])
        return [self.accounts[customer_id]]

    def poll_once(self, customer_id: str | None = None) -> PassResult:
        """One sweep of every selected account (each delivers the emails it queues), then
        the emails still due: those that failed to go out, and any left from before."""
        accounts = self.select(customer_id)
        sent_before = self.outbox.sent_total
        with ThreadPoolExecutor(self.settings.workers, thread_name_prefix="sweep") as pool:
            sweeps = tuple(pool.map(lambda a: a.sweep(force=True), accounts))
        mailbox = self.drain_mailbox() if customer_id is None else None
        if mailbox is not None:
            sweeps += (mailbox,)
        self.outbox.flush()
        sent = self.outbox.sent_total - sent_before
        return PassResult(sweeps, sent, pending_emails(self.store))

    def close(self) -> None:
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
