"""Delivers queued emails (SPEC 8): a mail server that is down delays them, never loses them."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

import structlog

from sftp_watcher.crashpoints import crashpoint
from sftp_watcher.errors import MailError
from sftp_watcher.notify.send import MailSender
from sftp_watcher.observability import metrics
from sftp_watcher.pipeline import Clock, utc_now
from sftp_watcher.state.store import Store

log = structlog.get_logger("sftp_watcher.outbox")

MAX_RETRY_SECONDS = 1800


@dataclass
class Outbox:
    store: Store
    sender: MailSender
    clock: Clock = utc_now
    _down: bool = False

    def flush(self) -> tuple[int, int]:
        """Try every due email once; returns (sent, still pending after a failure)."""
        sent = failed = 0
        for queued in self.store.due_emails(self.clock()):
            message = email.message_from_bytes(queued.raw, policy=email.policy.default)
            if not isinstance(message, EmailMessage):  # pragma: no cover - policy guarantees it
                continue
            now = self.clock()
            try:
                self.sender.send(message)
            except MailError as exc:
                failed += 1
                delay = min(30 * 2**queued.attempts, MAX_RETRY_SECONDS)
                self.store.email_attempted(
                    queued.upload_id,
                    sent=False,
                    now=now,
                    retry_at=now + timedelta(seconds=delay),
                    error=str(exc),
                )
                metrics.record_email("failed")
                if not self._down:  # one alert per outage
                    log.error("email.failed", upload_id=queued.upload_id, error=str(exc))
                self._down = True
                # The server is down for this message; the rest would fail the same way.
                break
            crashpoint("email.after_send")
            self.store.email_attempted(
                queued.upload_id, sent=True, now=now, retry_at=now, error=None
            )
            metrics.record_email("sent")
            if self._down:
                log.warning("email.recovered")
            self._down = False
            sent += 1
            log.info("email.sent", upload_id=queued.upload_id, message_id=queued.message_id)
        metrics.set_email_queue_depth(self.store.pending_email_count())
        return sent, failed
