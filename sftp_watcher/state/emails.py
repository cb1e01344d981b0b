"""The email outbox's rows in the state database: queued with an upload's last step,
claimed by one sender at a time, their attempts recorded (SPEC 8, 9)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.orm import Session

from sftp_watcher.state import statements as sql
from sftp_watcher.state.models import EmailStatus, OutboxEmail, detached
from sftp_watcher.state.statements import QueuedEmail


class EmailRows:
    """The outbox's half of ``Store``: it runs on the store's transactions and sessions."""

    shared: bool

    def _transaction(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def session(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def enqueue_email(self, upload_id: str, email: QueuedEmail, *, now: datetime) -> None:
        """Queue an email by itself (an upload's is queued with its last step); queuing it
        again is a no-op (one email per upload)."""
        with self._transaction() as connection:
            queue(connection, upload_id, email, now)

    @contextmanager
    def claim_due_email(
        self,
        now: datetime,
        *,
        skip: Collection[str] = (),
        customers: Collection[str] | None = None,
    ) -> Iterator[OutboxEmail | None]:
        """The oldest due email not in ``skip`` (or None), of an upload of ``customers``
        (None: of any), locked while the block runs; record the attempt on it with
        ``record_attempt``. Replicas flush one outbox: on PostgreSQL the row lock (FOR
        UPDATE SKIP LOCKED) keeps the others off it and dies with a dead sender.
        """
        values: dict[str, Any] = {"now": now}
        if skip:
            values["skip"] = list(skip)
        if customers is not None:
            values["customers"] = list(customers)
        due = sql.due_email(skipping=bool(skip), of_customers=customers is not None)
        with self._claim_email(due, values) as email:
            yield email

    @contextmanager
    def claim_queued_email(
        self, upload_id: str, email: QueuedEmail, *, queued_at: datetime
    ) -> Iterator[OutboxEmail | None]:
        """The email queued for ``upload_id`` a moment ago, by a caller that kept every
        other sender of this process off it from before it was queued (the sweep's
        ``Outbox.handing_over``): on SQLite it is not read back. On PostgreSQL another
        replica may have it: it is claimed if still pending, under its row lock."""
        if self.shared:
            with self._claim_email(sql.PENDING_EMAIL, {"upload_id": upload_id}) as claimed:
                yield claimed
            return
        queued = detached(OutboxEmail, sql.outbox_row(upload_id, email, queued_at))
        yield queued
        self._record(queued)

    @contextmanager
    def _claim_email(
        self, query: Select[Any], values: dict[str, Any]
    ) -> Iterator[OutboxEmail | None]:
        if not self.shared:
            # No row locks: a replica's processes flush their own accounts' emails, its
            # Outbox keeps its threads apart. (A read transaction held across the send
            # could not turn into a write if a sweep wrote meanwhile.)
            with self._transaction() as connection:
                row = connection.execute(query, values).mappings().first()
            email = None if row is None else detached(OutboxEmail, row)
            yield email
            if email is not None:
                self._record(email)
            return
        locked = select(OutboxEmail).from_statement(query.with_for_update(skip_locked=True))
        with self.session() as session:
            yield session.scalars(locked, values).first()

    def _record(self, email: OutboxEmail) -> None:
        """Write the attempt ``record_attempt`` made on ``email`` (SQLite)."""
        attempt = {name: getattr(email, name) for name in sql.ATTEMPT_FIELDS}
        with self._transaction() as connection:
            connection.execute(sql.UPDATE_EMAIL, {"_id": email.upload_id, **attempt})

    @staticmethod
    def record_attempt(
        email: OutboxEmail, *, sent: bool, now: datetime, retry_at: datetime, error: str | None
    ) -> None:
        email.attempts += 1
        if sent:
            email.status = EmailStatus.SENT.value
            email.sent_at = now
            email.last_error = None
        else:
            email.next_attempt_at = retry_at
            email.last_error = error

    def pending_email_count(self) -> int:
        with self.session() as session:
            count = session.scalar(
                select(func.count()).where(OutboxEmail.status == EmailStatus.PENDING.value)
            )
            return int(count or 0)

    def email_for(self, upload_id: str) -> OutboxEmail | None:
        with self.session() as session:
            return session.get(OutboxEmail, upload_id)


def queue(connection: Connection, upload_id: str, email: QueuedEmail, now: datetime) -> None:
    """Queue the upload's email unless it is queued already (one email per upload)."""
    statement = sql.queue_email(connection.dialect.name)
    connection.execute(statement, sql.outbox_row(upload_id, email, now))
