"""One message through the mailbox door: record, stage and run its uploads, answer, move.

Each decision is recorded in the ledger before the side effect that follows it: the
verdict and the attachments' upload ids before anything is staged or sent, the uploads
done and the answer queued before the move. A message met again (after a kill, under a
new UIDVALIDITY) is finished from its record: the same upload ids, so no call is placed
twice, the same answer, one move.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from typing import Any

import structlog

from sftp_watcher.config import CustomerConfig, Settings
from sftp_watcher.crashpoints import crashpoint
from sftp_watcher.errors import MailboxError, StateError
from sftp_watcher.mailbox.answer import AnsweredItem, answerable, own_addresses, render_answer
from sftp_watcher.mailbox.attachments import attachments, judged_name
from sftp_watcher.mailbox.imap import Mailbox
from sftp_watcher.mailbox.ledger import (
    Answer,
    Ledger,
    MailMessage,
    MessageKey,
    MessageState,
    Verdict,
    fingerprint,
)
from sftp_watcher.mailbox.routing import flow_addresses, route, sender_allowed, sender_of
from sftp_watcher.mailbox.trust import authenticated
from sftp_watcher.notify import render
from sftp_watcher.notify.message import subject_for
from sftp_watcher.notify.summary import notice_for
from sftp_watcher.observability import metrics
from sftp_watcher.pipeline import Clock, Pipeline, utc_now
from sftp_watcher.sources.base import Folder
from sftp_watcher.sources.names import claim_name
from sftp_watcher.state.models import Upload
from sftp_watcher.state.store import QueuedEmail, Store

log = structlog.get_logger("sftp_watcher.mailbox")

NO_CALL_LIST = (
    "No call list was attached: attach the list as a .csv or .zip file "
    "(one upload per attachment), e.g. upload_08022027211200.csv for a common start time."
)


@dataclass
class Door:
    settings: Settings
    store: Store
    # The customer's pipeline over its email spool (channel "email").
    pipeline_for: Callable[[CustomerConfig], Pipeline]
    clock: Clock = utc_now
    workers: int = 8
    _local: threading.local = field(default_factory=threading.local, init=False)

    def __post_init__(self) -> None:
        upload = self.settings.email_upload
        if upload is None:
            raise ValueError("the email channel is off (no email_upload configuration)")
        self.config = upload
        self.ledger = Ledger(self.store)
        self.addresses = flow_addresses(self.settings)
        self.own = own_addresses(self.settings.email.from_, upload.address, *self.addresses)

    def drain(self, box: Mailbox) -> int:
        """Every message in the folder, oldest first, ``workers`` at a time (their uploads
        run in parallel, as accounts' sweeps do); returns how many were finished.

        The IMAP connection is used by this thread only: a chunk of messages is fetched in
        one command, prepared in the pool (recorded, uploads run, answer queued: all
        recorded as MOVING), then moved with one command per destination folder.
        """
        done = 0
        uids = box.waiting()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="mailbox") as pool:
            for start in range(0, len(uids), self.workers * _CHUNK_PER_WORKER):
                chunk = uids[start : start + self.workers * _CHUNK_PER_WORKER]
                raws = box.fetch_many(chunk)
                keys = [
                    MessageKey(box.account, box.config.folder, box.uidvalidity, u) for u in chunk
                ]
                ready = [(k, raws[k.uid]) for k in keys if k.uid in raws]
                records = list(pool.map(lambda item: self._contained(*item), ready))
                done += self._move(box, records)
        return done

    def _contained(self, key: MessageKey, raw: bytes) -> MailMessage:
        """``prepare``, except that a message no rule foresaw (a bug, a parser's surprise)
        goes to ``Failure`` unanswered instead of stopping the mailbox (SPEC 3). The
        mailbox's and the database's own errors stop the drain: they are retried."""
        try:
            return self.prepare(key, raw)
        except (MailboxError, StateError):
            raise
        except Exception as exc:
            log.exception("email.message_failed", message=key.text, error=str(exc))
            fields = {"state": MessageState.MOVING.value, "destination": "Failure"}
            record = self.ledger.get(key)
            if record is None:
                record = self.ledger.record(
                    key,
                    now=self.clock(),
                    fingerprint=fingerprint(None, raw),
                    verdict=Verdict.REJECTED.value,
                    reason="unprocessable",
                    items=[],
                    answer=Answer.NONE.value,
                    **fields,
                )
            else:
                self.ledger.update(record.id, now=self.clock(), **fields)
            record.state, record.destination = fields["state"], fields["destination"]
            return record

    def prepare(self, key: MessageKey, raw: bytes) -> MailMessage:
        """Everything but the move: the record, the uploads run, the answer queued, the
        destination recorded (MOVING). A message prepared before is returned as it is."""
        message = message_from_bytes(raw, policy=compat32)
        record = self.ledger.get(key) or self._record(key, message, raw)
        if record.state != MessageState.RECORDED.value:
            return record
        destination = "Rejected"
        if record.verdict == Verdict.ACCEPTED.value:
            uploads = self._run_uploads(record, message)
            destination = "Success" if _scheduled(uploads) else "Failure"
            if record.answer == Answer.DUE.value:
                self._answer(record, message, uploads)
        self.ledger.update(
            record.id, now=self.clock(), state=MessageState.MOVING.value, destination=destination
        )
        record.state, record.destination = MessageState.MOVING.value, destination
        return record

    def _move(self, box: Mailbox, records: list[MailMessage]) -> int:
        by_folder: dict[str, list[MailMessage]] = {}
        for record in records:
            by_folder.setdefault(record.destination or "Failure", []).append(record)
        for folder, moving in by_folder.items():
            crashpoint("mail.before_move")
            box.move_many([r.uid for r in moving], folder)
            crashpoint("mail.after_move")
            self.ledger.moved([r.id for r in moving], now=self.clock())
            metrics.EMAIL_MESSAGES.labels(folder).inc(len(moving))
            for r in moving:
                log.info(
                    "email.moved",
                    message=f"{r.account}:{r.folder}:{r.uidvalidity}:{r.uid}",
                    verdict=r.verdict,
                    folder=folder,
                    sender=r.sender,
                    channel="email",
                )
        return len(records)

    # -- the record ----------------------------------------------------------------------

    def _record(self, key: MessageKey, message: Message, raw: bytes) -> MailMessage:
        message_id = " ".join(str(message.get("Message-ID", "")).split()) or None
        print_ = fingerprint(message_id, raw)
        earlier = self.ledger.unfinished_like(key, print_)
        if earlier is not None:
            # The mailbox was renumbered (UIDVALIDITY): finish the earlier record's plan.
            fields = {c: getattr(earlier, c) for c in _CARRIED}
            self.ledger.update(earlier.id, now=self.clock(), state=MessageState.MOVED.value)
            log.warning("email.renumbered", message=key.text, earlier=earlier.id)
        else:
            fields = self._decide(key, message)
        record = self.ledger.record(
            key, now=self.clock(), fingerprint=print_, message_id=message_id, **fields
        )
        crashpoint("mail.after_record")
        if record.verdict == Verdict.REJECTED.value:
            metrics.EMAIL_REJECTED.labels(record.reason or "unknown").inc()
            log.warning(
                "email.rejected", message=key.text, reason=record.reason, sender=record.sender
            )
        return record

    def _decide(self, key: MessageKey, message: Message) -> dict[str, Any]:
        sender = sender_of(message)
        routed = route(message, self.addresses)
        fields: dict[str, Any] = {
            "sender": sender,
            "customer_id": routed.customer.id if routed else None,
            "flow_id": routed.flow.id if routed else None,
            "items": [],
            "answer": Answer.NONE.value,
            "verdict": Verdict.REJECTED.value,
        }
        if routed is None:
            return fields | {"reason": "unknown_flow"}
        if sender is None or not sender_allowed(sender, routed.customer.email_senders):
            return fields | {"reason": "unknown_sender"}
        if self.config.require_authenticated_sender and not authenticated(
            message, authserv_id=self.config.authserv_id or "", sender=sender
        ):
            return fields | {"reason": "forged"}
        limit = self.settings.limits.max_file_bytes
        items = []
        for attachment in (a for a in attachments(message) if a.is_call_list):
            judged, problem = judged_name(attachment.name, routed.customer, routed.flow)
            if problem is None and attachment.least_size() > limit:
                problem = f"the file is larger than the limit of {limit} bytes"
            items.append(
                {
                    "position": attachment.position,
                    "name": attachment.name,
                    "judged_name": judged,
                    "problem": problem,
                    "upload_id": None if problem else key.upload_id(attachment.position),
                }
            )
        answer = answerable(message, sender=sender, own=self.own)
        return fields | {
            "verdict": Verdict.ACCEPTED.value,
            "reason": None,
            "items": items,
            "answer": Answer.DUE.value if answer else Answer.NONE.value,
        }

    # -- uploads and the answer ----------------------------------------------------------

    def _pipeline(self, customer_id: str) -> Pipeline:
        """The customer's pipeline of this thread (a pipeline serves one thread)."""
        pipelines: dict[str, Pipeline] = self._local.__dict__.setdefault("pipelines", {})
        if customer_id not in pipelines:
            pipelines[customer_id] = self.pipeline_for(self.settings.customer(customer_id))
        return pipelines[customer_id]

    def _run_uploads(self, record: MailMessage, message: Message) -> list[Upload]:
        pipeline = self._pipeline(record.customer_id or "")
        parts = {a.position: a for a in attachments(message)}
        uploads = []
        for item in record.items:
            upload_id = item["upload_id"]
            if upload_id is None:
                continue
            upload = self.store.get(upload_id)
            if upload is None:
                data = parts[item["position"]].decode()
                _stage(pipeline, claim_name(upload_id, item["name"]), data)
                crashpoint("mail.after_stage")
                upload = pipeline.enter(
                    upload_id,
                    item["name"],
                    size=len(data),
                    uploaded_at=record.created_at,
                    judged_name=item["judged_name"],
                    sender=record.sender,
                )
                crashpoint("mail.after_enter")
            uploads.append(pipeline.run(upload))
        return uploads

    def _answer(self, record: MailMessage, message: Message, uploads: list[Upload]) -> None:
        customer = self.settings.customer(record.customer_id or "")
        timezone = self.settings.customer_timezone(customer)
        by_id = {u.id: u for u in uploads}
        items: list[AnsweredItem] = []
        for item in record.items:
            upload = by_id.get(item["upload_id"] or "")
            if upload is None:
                reason = item["problem"] or "not processed"
                items.append(AnsweredItem(item["name"], f"Not uploaded: {item['name']}", reason))
                continue
            notice = notice_for(upload, customer, timezone=timezone, now=self.clock())
            text = _plain_text(render(notice, sender=self.settings.email.from_))
            items.append(AnsweredItem(item["name"], subject_for(notice), text, upload.errors_csv))
        answer = render_answer(
            message,
            key=record.id,
            sender=self.settings.email.from_,
            to=record.sender or "",
            items=items,
            problem=None if record.items else NO_CALL_LIST,
            now=record.created_at,
        )
        email = QueuedEmail(str(answer["Message-ID"]), (record.sender or "",), bytes(answer))
        self.store.enqueue_email(f"answer-{record.id}", email, now=self.clock())
        crashpoint("mail.after_answer")
        self.ledger.update(record.id, now=self.clock(), answer=Answer.QUEUED.value)
        log.info("email.answer_queued", message=record.id, channel="email")


# Messages fetched (and held in memory) at a time, per worker.
_CHUNK_PER_WORKER = 4

_CARRIED = ("sender", "customer_id", "flow_id", "verdict", "reason", "items", "answer")


def _scheduled(uploads: list[Upload]) -> bool:
    return any(u.destination == "success" and u.rows_triggered > 0 for u in uploads)


def _stage(pipeline: Pipeline, name: str, data: bytes) -> None:
    """The attachment at ``Upload/<claim name>``; a copy left half-written by a kill is
    replaced (the bytes are the message's, the same each time)."""
    source = pipeline.source
    if source.exists(Folder.UPLOAD, name):
        source.remove(Folder.UPLOAD, name)
    source.write(Folder.UPLOAD, name, data)


def _plain_text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload.decode("utf-8", errors="replace")
    return ""
