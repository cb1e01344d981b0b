"""The email channel as the service runs it: one mailbox, drained by one replica at a time,
woken by IDLE where the server has it, polled otherwise, reconnected with backoff."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from sftp_watcher.config import CustomerConfig, Settings
from sftp_watcher.errors import MailboxError, StateError
from sftp_watcher.mailbox.door import Door
from sftp_watcher.mailbox.imap import Mailbox
from sftp_watcher.mailbox.spool import CHANNEL, spool_source
from sftp_watcher.phonon import Trigger
from sftp_watcher.pipeline import Clock, Handover, Pipeline, utc_now
from sftp_watcher.poller import SweepResult
from sftp_watcher.state.locks import AccountLocks
from sftp_watcher.state.store import Store

log = structlog.get_logger("sftp_watcher.mailbox")

BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
MAILBOX = "mailbox"  # the email channel's line in a pass's results


@dataclass
class EmailChannel:
    settings: Settings
    store: Store
    trigger: Trigger
    locks: AccountLocks
    handover: Handover | None = None
    # Sends what a drain queued (the answers) at once, not at the outbox's next run.
    flush: Callable[[], object] | None = None
    clock: Clock = utc_now
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.door = Door(
            self.settings, self.store, self._pipeline, self.clock, workers=self.settings.workers
        )
        self.config = self.door.config

    def _pipeline(self, customer: CustomerConfig) -> Pipeline:
        return Pipeline(
            self.settings,
            customer,
            spool_source(self.settings, customer),
            self.store,
            self.trigger,
            clock=self.clock,
            handover=self.handover,
            channel=CHANNEL,
        )

    @property
    def _lock_name(self) -> str:
        imap = self.config.imap
        return f"mailbox:{imap.username}@{imap.host}:{imap.port}/{imap.folder}"

    def drain(self, box: Mailbox) -> int:
        """Every waiting message, unless another replica is draining this mailbox now."""
        with self.locks.hold(self._lock_name) as held:
            if not held:
                return 0
            return self.door.drain(box)

    def poll_once(self) -> int:
        """Connect, create the outcome folders when missing, drain, disconnect."""
        with Mailbox(self.config.imap) as box:
            box.create_missing()
            return self.drain(box)

    def poll_result(self) -> SweepResult:
        """``poll_once`` as a sweep of an account named ``mailbox`` (its ``error`` makes
        poll-once exit 3)."""
        try:
            return SweepResult(MAILBOX, processed=self.poll_once())
        except (MailboxError, StateError) as exc:
            log.error("email.mailbox_unavailable", error=str(exc), channel="email")
            return SweepResult(MAILBOX, ran=False, error=str(exc))

    def run(self) -> None:
        """Until ``stop``: drain, then wait for news (IDLE) or the poll interval."""
        failures = 0
        interval = self.config.poll_interval_seconds or self.settings.poll_interval_seconds
        while not self.stop.is_set():
            try:
                with Mailbox(self.config.imap) as box:
                    box.create_missing()
                    idle = box.has("IDLE")
                    failures = 0
                    log.info("email.mailbox_connected", idle=idle, folder=self.config.imap.folder)
                    while not self.stop.is_set():
                        if self.drain(box) and self.flush is not None:
                            self.flush()
                        if idle:
                            box.wait(self.config.imap.idle_seconds, self.stop)
                        else:
                            self.stop.wait(interval)
            except (MailboxError, StateError) as exc:
                delay = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
                failures += 1
                log.warning("email.mailbox_unavailable", error=str(exc), retry_in_seconds=delay)
                self.stop.wait(delay)
            except Exception as exc:  # the mailbox thread must outlive any surprise
                log.exception("email.drain_failed", error=str(exc))
                self.stop.wait(BACKOFF_SECONDS[-1])
