"""Delivers queued emails (SPEC 8): a mail server that is down delays them, never loses them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog

from sftp_watcher.crashpoints import crashpoint
from sftp_watcher.errors import MailError, StateError
from sftp_watcher.notify.send import MailSender, MailSession
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
    _down: bool = False  # the mail server
    _state_down: bool = False  # the state database

    def flush(self) -> tuple[int, int]:
        """Try every due email once; returns (sent, still pending after a failure).

        Stops at the first failure: the mail server is down for the rest as well. A state
        database that is out of reach ends the flush too; the emails wait in the outbox.
        Every email of a flush goes over one mail-server connection.
        """
        sent = failed = 0
        try:
            with self.sender.session() as mail:
                while (outcome := self._send_next(mail)) is not None:
                    if not outcome:
                        failed += 1
                        break
                    sent += 1
            metrics.set_email_queue_depth(self.store.pending_email_count())
        except StateError as exc:
            # Logged once per outage: the job runs every few seconds while it lasts.
            if not self._state_down:
                log.error("outbox.state_unavailable", error=str(exc))
            self._state_down = True
            return sent, failed
        if self._state_down:
            log.warning("outbox.state_recovered")
        self._state_down = False
        return sent, failed

    def _send_next(self, mail: MailSession) -> bool | None:
        """Send the oldest due email: True sent, False failed, None nothing due.

        The email stays locked in the state database while it is sent, so that another
        replica flushing at the same moment cannot send it too.
        """
        now = self.clock()
        with self.store.claim_due_email(now) as queued:
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
        metrics.record_email("sent")
        if self._down:
            log.warning("email.recovered")
        self._down = False
        log.info("email.sent", upload_id=upload_id, message_id=message_id)
        return True
