"""Delivers queued emails (SPEC 8): a mail server that is down delays them, never loses them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import structlog
from sqlalchemy import func, select

from sftp_watcher.crashpoints import crashpoint
from sftp_watcher.errors import MailError, StateError
from sftp_watcher.notify.send import MailPool, MailSender, MailSession
from sftp_watcher.observability import metrics
from sftp_watcher.pipeline import Clock, utc_now
from sftp_watcher.state.locks import AccountLocks
from sftp_watcher.state.models import EmailStatus, OutboxEmail
from sftp_watcher.state.store import QueuedEmail, Store

log = structlog.get_logger("sftp_watcher.outbox")

MAX_RETRY_SECONDS = 1800


@dataclass
class Outbox:
    """The queued emails' way out: each sweep hands over the emails it queues at once
    (``handing_over``), and ``flush`` sends whatever is still due (retries, a restart's
    leftovers).

    Two senders never take the same email: within the process an email being sent is
    reserved here; across replicas (PostgreSQL) its row is locked while it is sent; across
    processes sharing a SQLite file (``locks``) an email is flushed under its account's
    lock, so never while another process's sweep of that account may be sending it.
    """

    store: Store
    sender: MailSender
    clock: Clock = utc_now
    # Only these customers' emails are flushed (None: every email), when other processes
    # flush the others'.
    customers: Collection[str] | None = None
    # True: only the email channel's emails (its answers, its uploads'); False: none of
    # them (SQLite, ``processes`` > 1: the parent, which runs the mailbox, sends those).
    mailbox: bool | None = None
    locks: AccountLocks | None = None
    _down: bool = False  # the mail server
    _state_down: bool = False  # the state database
    _sending: set[str] = field(default_factory=set, init=False)  # reserved: being sent
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False)
    sent_total: int = field(default=0, init=False)  # handed over since start, both ways

    def __post_init__(self) -> None:
        self._pool = MailPool(self.sender)

    @contextmanager
    def handing_over(self, upload_id: str) -> Iterator[Callable[[QueuedEmail], bool | None]]:
        """For the sweep about to queue ``upload_id``'s email: the email is reserved from
        before it is queued until the block ends, so no flush of this process takes it
        meanwhile, and the sweep sends it at once with the callable yielded (True sent,
        False failed, None left to ``flush``).

        A mail server known to be down is not tried: the sweep goes on with its next file
        at once, and the next flush finds out when the server is back.
        """
        with self._guard:
            mine = upload_id not in self._sending
            self._sending.add(upload_id)
        try:
            yield partial(self._hand_over, upload_id) if mine else _left_to_flush
        finally:
            if mine:
                self._release([upload_id])

    def _hand_over(self, upload_id: str, email: QueuedEmail) -> bool | None:
        if self._down:
            return None
        claim = self.store.claim_queued_email(upload_id, email, queued_at=self.clock())
        with self._pool.connection() as mail:
            return self._send(mail, claim)

    def flush(self) -> tuple[int, int]:
        """Try every due email once; returns (sent, still pending after a failure).

        Stops at the first failure: the mail server is down for the rest as well. A state
        database that is out of reach ends the flush too; the emails wait in the outbox.
        Every email of a flush goes over one mail-server connection.
        """
        sent = failed = 0
        try:
            with self._pool.connection() as mail:
                while (outcome := self._send(mail, self._claim())) is not None:
                    if not outcome:
                        failed += 1
                        break
                    sent += 1
            metrics.set_email_queue_depth(self.store.pending_email_count())
            metrics.set_email_oldest_pending_age(self._oldest_pending_age())
        except StateError as exc:
            # Logged once per outage: the job runs every few seconds while it lasts.
            if not self._state_down:
                log.error("outbox.state_unavailable", error=str(exc))
            self._state_down = True
            return sent, failed
        finally:
            self._pool.close_idle()
        if self._state_down:
            log.warning("outbox.state_recovered")
        self._state_down = False
        return sent, failed

    def close(self) -> None:
        self._pool.close()

    def _oldest_pending_age(self) -> float:
        """Seconds since the oldest pending email was queued (0 when none), for alerting."""
        with self.store.session() as session:
            oldest = session.scalar(
                select(func.min(OutboxEmail.created_at)).where(
                    OutboxEmail.status == EmailStatus.PENDING.value
                )
            )
        return 0.0 if oldest is None else (self.clock() - oldest).total_seconds()

    @contextmanager
    def _claim(self) -> Iterator[OutboxEmail | None]:
        """The oldest due email not being sent, reserved and locked for the block."""
        reserved: list[str] = []
        with ExitStack() as stack:
            # Registered first, so it runs last: after the attempt is recorded.
            stack.callback(self._release, reserved)
            with self._guard:  # look up and reserve at once, or two threads could pick one
                queued = self._claim_free(stack)
                if queued is not None:
                    reserved.append(queued.upload_id)
                    self._sending.add(queued.upload_id)
            yield queued

    def _claim_free(self, stack: ExitStack) -> OutboxEmail | None:
        """The oldest due email, its claim entered on ``stack``. On SQLite, of an account
        whose lock this flush holds (entered on ``stack`` before the claim, so released
        after the attempt is recorded), read again under the lock: a sweep that held it
        may have sent the email since."""
        passed: set[str] = set()
        while True:
            claim = self.store.claim_due_email(
                self.clock(),
                skip=self._sending | passed,
                customers=self.customers,
                mailbox=self.mailbox,
            )
            queued = claim.__enter__()
            if queued is None or self.locks is None or self.store.shared:
                stack.push(claim.__exit__)
                return queued
            attempt = ExitStack()
            upload = self.store.get(queued.upload_id)
            customer = upload.customer_id if upload is not None else ""
            if attempt.enter_context(self.locks.hold(customer)) and _still_due(
                self.store.email_for(queued.upload_id), self.clock()
            ):
                attempt.push(claim.__exit__)
                stack.enter_context(attempt.pop_all())
                return queued
            # Left as it is (not recorded): another process has its account in hand.
            claim.__exit__(_Passed, _Passed(), None)
            attempt.close()
            passed.add(queued.upload_id)

    def _release(self, reserved: list[str]) -> None:
        with self._guard:
            self._sending.difference_update(reserved)

    def _send(
        self, mail: MailSession, claim: AbstractContextManager[OutboxEmail | None]
    ) -> bool | None:
        """Send the claimed email: True sent, False failed, None nothing claimed."""
        now = self.clock()
        with claim as queued:
            if queued is None:
                return None
            try:
                mail.send_raw(queued.raw)
            except MailError as exc:
                delay = min(30 * 2**queued.attempts, MAX_RETRY_SECONDS)
                self.store.record_attempt(
                    queued,
                    sent=False,
                    now=now,
                    retry_at=now + timedelta(seconds=delay),
                    error=str(exc),
                )
                metrics.record_email("failed")
                if not self._down:  # one alert per outage
                    log.error("email.failed", upload_id=queued.upload_id, error=str(exc))
                self._down = True
                return False
            crashpoint("email.after_send")
            self.store.record_attempt(queued, sent=True, now=now, retry_at=now, error=None)
            upload_id, message_id = queued.upload_id, queued.message_id
        with self._guard:
            self.sent_total += 1
        metrics.record_email("sent")
        if self._down:
            log.warning("email.recovered")
        self._down = False
        log.info("email.sent", upload_id=upload_id, message_id=message_id)
        return True


class _Passed(Exception):
    """Thrown into a claim to leave its email unrecorded."""


def _still_due(email: OutboxEmail | None, now: datetime) -> bool:
    return (
        email is not None
        and email.status == EmailStatus.PENDING.value
        and email.next_attempt_at <= now
    )


def _left_to_flush(_email: QueuedEmail) -> None:
    """An email another sender of this process holds: not ours to send."""
