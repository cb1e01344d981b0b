"""Tables of the state database and the upload's lifecycle (SPEC 9).

Every upload moves forward through ``UploadState``; each state is written before the
side effect that leads out of it, so that after a crash the pipeline knows exactly
which step to resume and with which names and bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    inspect,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    configure_mappers,
    mapped_column,
    relationship,
)
from sqlalchemy.types import TypeDecorator

from sftp_watcher.errors import InvalidTransition, UploadTakenOver


class UploadState(StrEnum):
    CLAIMING = "claiming"  # recorded, rename Upload/<name> -> Upload/<claim> about to happen
    CLAIMED = "claimed"  # the claim rename happened; nobody else can touch the file
    JUDGED = "judged"  # read and validated; batches and destination recorded
    TRIGGERED = "triggered"  # every batch answered (sent or failed for good)
    ARCHIVED = "archived"  # moved to Success/ or Failure/ (and .errors.csv written)
    DONE = "done"  # email queued in the outbox: nothing left for this upload
    ABANDONED = "abandoned"  # the file vanished before we claimed it: nothing happened


# An upload that fails unexpectedly before it is triggered goes straight to TRIGGERED
# (destination Failure/, SPEC 3); one that cannot even be failed is abandoned.
_NEXT: dict[UploadState, frozenset[UploadState]] = {
    UploadState.CLAIMING: frozenset(
        {UploadState.CLAIMED, UploadState.TRIGGERED, UploadState.ABANDONED}
    ),
    UploadState.CLAIMED: frozenset(
        {UploadState.JUDGED, UploadState.TRIGGERED, UploadState.ABANDONED}
    ),
    UploadState.JUDGED: frozenset({UploadState.TRIGGERED, UploadState.ABANDONED}),
    UploadState.TRIGGERED: frozenset({UploadState.ARCHIVED, UploadState.ABANDONED}),
    UploadState.ARCHIVED: frozenset({UploadState.DONE, UploadState.ABANDONED}),
    UploadState.DONE: frozenset(),
    UploadState.ABANDONED: frozenset(),
}

FINAL_STATES = frozenset({UploadState.DONE, UploadState.ABANDONED})


@cache
def predecessors(state: UploadState) -> frozenset[UploadState]:
    """The states an upload may move to ``state`` from."""
    return frozenset(s for s, following in _NEXT.items() if state in following)


_ORDER = list(UploadState)


def check_transition(upload_id: str, current: UploadState, target: UploadState) -> None:
    if target in _NEXT[current]:
        return
    message = f"upload {upload_id}: cannot go from {current} to {target}"
    if current in FINAL_STATES or _ORDER.index(current) >= _ORDER.index(target):
        raise UploadTakenOver(message)  # already there or past it: someone else moved it
    raise InvalidTransition(message)


class Destination(StrEnum):
    """The folder an upload ends in."""

    SUCCESS = "success"
    FAILURE = "failure"


class Channel(StrEnum):
    """The door an upload came in by (SPEC 11, 12): each door resumes its own."""

    SFTP = "sftp"
    LOCAL = "local"
    EMAIL = "email"
    WEB = "web"


class BatchStatus(StrEnum):
    PENDING = "pending"  # never attempted
    SENDING = "sending"  # attempted at least once; Phonon may have received it
    SENT = "sent"
    FAILED = "failed"  # permanently refused, or the retry budget ran out unanswered
    # The retry budget ran out after an attempt Phonon may have received (a timeout, a
    # dropped connection, a 5xx): its calls may be placed. Never sent again by us.
    UNCERTAIN = "uncertain"


class EmailStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and gives them back aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


EnumT = TypeVar("EnumT", bound=StrEnum)


class StrEnumType(TypeDecorator[EnumT]):
    """A ``StrEnum`` stored as its value in a plain string column, given back as the enum."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum: type[EnumT]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: EnumT | str | None, dialect: Any) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> EnumT | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    pass


RowT = TypeVar("RowT", bound=Base)


def detached(cls: type[RowT], values: Mapping[Any, Any]) -> RowT:
    """A ``cls`` holding ``values`` (a row the database returned), outside any session.

    Made without the declarative constructor: it records every attribute as a change to
    flush, which cost 26 µs a row, more than some statements that returned one.
    """
    mapper = inspect(cls)
    if not mapper.configured:
        configure_mappers()  # what the constructor's first call would have done
    row = mapper.class_manager.new_instance()
    row.__dict__.update(values)
    return cast(RowT, row)


def snapshot(row: RowT, **changes: Any) -> RowT:
    """A detached copy of a row with ``changes``: what the database holds once they are recorded."""
    values = {c.key: getattr(row, c.key) for c in inspect(type(row)).column_attrs}
    return detached(type(row), values | changes)


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    original_name: Mapped[str] = mapped_column(String(512))
    claim_name: Mapped[str] = mapped_column(String(700))
    state: Mapped[UploadState] = mapped_column(StrEnumType(UploadState))
    size: Mapped[int] = mapped_column(Integer, default=0)
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set once judged. judged_at is the clock the judgement used, kept for resumes.
    judged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    content_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    flow_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The file name's start time: part of the duplicate key with content and flow (SPEC 5).
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    destination: Mapped[Destination | None] = mapped_column(StrEnumType(Destination), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_valid: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    rows_triggered: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    errors_csv: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Chosen before the archive rename so a resume moves the file to the same place.
    archived_as: Mapped[str | None] = mapped_column(String(700), nullable=True)
    errors_file: Mapped[str | None] = mapped_column(String(700), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The door it came in by; who sent it (email sender, web user); the name the judge
    # reads when the door knows flow and start time from elsewhere (migration 0002).
    channel: Mapped[Channel] = mapped_column(
        StrEnumType(Channel), default=Channel.SFTP, server_default=Channel.SFTP.value
    )
    sender: Mapped[str | None] = mapped_column(String(320), nullable=True)
    judged_name: Mapped[str | None] = mapped_column(String(512), nullable=True)
    # Process runs that took it in hand without finishing it (SPEC 3: 3 in a row fail it).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    steps: Mapped[list[Step]] = relationship(
        back_populates="upload", order_by="Step.id", cascade="all, delete-orphan"
    )
    batches: Mapped[list[Batch]] = relationship(
        back_populates="upload", order_by="Batch.index", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_uploads_customer_state", "customer_id", "state"),
        Index("ix_uploads_duplicates", "customer_id", "flow_id", "content_sha256"),
        Index("ix_uploads_created", "created_at"),
    )

    def __repr__(self) -> str:
        return f"Upload(id={self.id!r}, customer={self.customer_id!r}, state={self.state!r})"


class Step(Base):
    """The history of an upload: one row per state reached, with details."""

    __tablename__ = "upload_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    upload: Mapped[Upload] = relationship(back_populates="steps")


class Batch(Base):
    """One Phonon request; ``body`` has the security id replaced by a placeholder."""

    __tablename__ = "batches"

    upload_id: Mapped[str] = mapped_column(
        ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    calls: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    upload: Mapped[Upload] = relationship(back_populates="batches")


class OutboxEmail(Base):
    """The account holder's email, kept until the mail server has taken it."""

    __tablename__ = "outbox"

    upload_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(256))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=EmailStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)


class ServerProfile(Base):
    """What setup-test learnt about an account's SFTP server (rename behaviour, clock skew...)."""

    __tablename__ = "server_profiles"

    customer_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in upload-page user; the cookie holds a token whose SHA-256 is ``id``,
    so the table alone cannot sign anyone in. Signing out deletes the row."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
