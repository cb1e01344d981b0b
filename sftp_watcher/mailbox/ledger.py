"""The message ledger: what the door decided about each message, recorded before anything
is sent or moved, so a message met again (after a kill, on another replica, under a new
UIDVALIDITY) is finished the same way instead of processed twice (SPEC 11)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, Text, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from sftp_watcher.errors import StateError
from sftp_watcher.state.models import Base, UTCDateTime, detached
from sftp_watcher.state.store import Store

# Upload ids of email attachments: uuid5 of the message's mailbox identity and position.
NAMESPACE = uuid.UUID("5b0a54f2-6f1c-4c55-9a59-3c1f2f0d7e11")


class MessageState(StrEnum):
    RECORDED = "recorded"  # verdict and items recorded; uploads entered and run next
    MOVING = "moving"  # uploads done, answer queued; the move to ``destination`` next
    MOVED = "moved"  # out of the folder read: nothing left to do


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"  # unknown flow or sender, forged sender: Rejected, no mail


class Answer(StrEnum):
    DUE = "due"  # to be queued once the uploads are done
    QUEUED = "queued"
    NONE = "none"  # never answered (rejected, automatic, bulk, our own)


@dataclass(frozen=True)
class MessageKey:
    """A message's identity in its mailbox (RFC 3501: UIDVALIDITY + UID)."""

    account: str
    folder: str
    uidvalidity: int
    uid: int

    @property
    def id(self) -> str:
        return uuid.uuid5(NAMESPACE, f"message:{self.text}").hex

    @property
    def text(self) -> str:
        return f"{self.account}:{self.folder}:{self.uidvalidity}:{self.uid}"

    def upload_id(self, position: int) -> str:
        return uuid.uuid5(NAMESPACE, f"email:{self.text}:{position}").hex


def fingerprint(message_id: str | None, raw: bytes) -> str:
    """What recognises a message under a new UIDVALIDITY: its Message-ID, else its bytes."""
    basis = message_id.encode() if message_id else raw
    return hashlib.sha256(basis).hexdigest()


class MailMessage(Base):
    __tablename__ = "email_messages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(320))
    folder: Mapped[str] = mapped_column(String(256))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str] = mapped_column(String(128))
    message_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    sender: Mapped[str | None] = mapped_column(String(320), nullable=True)
    customer_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    flow_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # One entry per attachment: position, name, judged_name, upload_id, problem.
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str | None] = mapped_column(String(16), nullable=True)
    answer: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("account", "folder", "uidvalidity", "uid", name="uq_email_messages"),
        Index("ix_email_messages_fingerprint", "account", "folder", "fingerprint"),
    )


_TABLE = Base.metadata.tables["email_messages"]


class Ledger:
    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def get(self, key: MessageKey) -> MailMessage | None:
        return self._one(select(_TABLE).where(_TABLE.c.id == key.id))

    def unfinished_like(self, key: MessageKey, print_: str) -> MailMessage | None:
        """An unfinished record of the same message under another UIDVALIDITY."""
        query = select(_TABLE).where(
            _TABLE.c.account == key.account,
            _TABLE.c.folder == key.folder,
            _TABLE.c.fingerprint == print_,
            _TABLE.c.uidvalidity != key.uidvalidity,
            _TABLE.c.state != MessageState.MOVED.value,
        )
        return self._one(query.order_by(_TABLE.c.created_at).limit(1))

    def record(self, key: MessageKey, *, now: datetime, **fields: Any) -> MailMessage:
        """Insert the message's record; when it exists already, the existing one wins."""
        values = {
            "id": key.id,
            "account": key.account,
            "folder": key.folder,
            "uidvalidity": key.uidvalidity,
            "uid": key.uid,
            "state": MessageState.RECORDED.value,
            "created_at": now,
            "updated_at": now,
            **fields,
        }
        try:
            with self._engine.begin() as connection:
                connection.execute(_TABLE.insert(), values)
        except IntegrityError:
            found = self.get(key)
            if found is None:
                raise StateError(f"message {key.text}: recorded and gone") from None
            return found
        except SQLAlchemyError as exc:
            raise StateError(f"state database error: {type(exc).__name__}: {exc}") from exc
        return detached(MailMessage, values)

    def update(self, record_id: str, *, now: datetime, **fields: Any) -> None:
        statement = update(_TABLE).where(_TABLE.c.id == record_id)
        try:
            with self._engine.begin() as connection:
                connection.execute(statement, {**fields, "updated_at": now})
        except SQLAlchemyError as exc:
            raise StateError(f"state database error: {type(exc).__name__}: {exc}") from exc

    def moved(self, record_ids: list[str], *, now: datetime) -> None:
        """The messages left the folder read: nothing left to do for them."""
        statement = update(_TABLE).where(_TABLE.c.id.in_(record_ids))
        values = {"state": MessageState.MOVED.value, "updated_at": now}
        try:
            with self._engine.begin() as connection:
                connection.execute(statement, values)
        except SQLAlchemyError as exc:
            raise StateError(f"state database error: {type(exc).__name__}: {exc}") from exc

    def all(self) -> list[MailMessage]:
        return self._many(select(_TABLE).order_by(_TABLE.c.created_at))

    def _one(self, query: Any) -> MailMessage | None:
        found = self._many(query)
        return found[0] if found else None

    def _many(self, query: Any) -> list[MailMessage]:
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise StateError(f"state database error: {type(exc).__name__}: {exc}") from exc
        return [detached(MailMessage, row) for row in rows]
