"""The statements of every upload's step, built once.

Building a SQLAlchemy statement cost more than running it on SQLite, and a statement
reused keeps its cache key. Values are bound at execution; an UPDATE sets the columns
its parameters name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Insert,
    Select,
    Update,
    bindparam,
    exists,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from sftp_watcher.state.models import (
    FINAL_STATES,
    Base,
    BatchStatus,
    EmailStatus,
    UploadState,
    UTCDateTime,
    predecessors,
)

UPLOADS = Base.metadata.tables["uploads"]
STEPS = Base.metadata.tables["upload_steps"]
BATCHES = Base.metadata.tables["batches"]
OUTBOX = Base.metadata.tables["outbox"]
FINAL_VALUES = [s.value for s in FINAL_STATES]

INSERT_UPLOAD = insert(UPLOADS)
INSERT_STEP = insert(STEPS)
INSERT_BATCH = insert(BATCHES)
UPDATE_UPLOAD = update(UPLOADS).where(UPLOADS.c.id == bindparam("_id"))
MARK_BATCH = update(BATCHES).where(
    BATCHES.c.upload_id == bindparam("_upload_id"), BATCHES.c.index == bindparam("_index")
)
MARK_BATCH_ATTEMPT = MARK_BATCH.values(attempts=BATCHES.c.attempts + 1)
UPDATE_EMAIL = update(OUTBOX).where(OUTBOX.c.upload_id == bindparam("_id"))
# An email waiting for its (next) attempt at ``now``.
DUE = (OUTBOX.c.status == EmailStatus.PENDING.value, OUTBOX.c.next_attempt_at <= bindparam("now"))
DUE_EMAIL = select(OUTBOX).where(*DUE).order_by(OUTBOX.c.next_attempt_at).limit(1)
PENDING_EMAIL = select(OUTBOX).where(
    OUTBOX.c.upload_id == bindparam("upload_id"), OUTBOX.c.status == EmailStatus.PENDING.value
)
# The uploads of ``customer_id`` (come in by one of ``channels``) not finished yet.
UNFINISHED = (
    UPLOADS.c.customer_id == bindparam("customer_id"),
    UPLOADS.c.state.not_in(FINAL_VALUES),
    UPLOADS.c.channel.in_(bindparam("channels", expanding=True)),
)
BEGIN_ATTEMPT = (
    update(UPLOADS)
    .where(UPLOADS.c.id == bindparam("_id"), UPLOADS.c.state.not_in(FINAL_VALUES))
    .values(attempts=UPLOADS.c.attempts + 1)
    .returning(*UPLOADS.c)
)
FORGET_ATTEMPT = (
    update(UPLOADS)
    .where(UPLOADS.c.id == bindparam("_id"), UPLOADS.c.attempts > 0)
    .values(attempts=UPLOADS.c.attempts - 1)
)
ANY_UNFINISHED = select(UPLOADS.c.id).where(*UNFINISHED).limit(1)
EARLIER_UPLOAD = (
    select(UPLOADS.c.id)
    .where(
        UPLOADS.c.customer_id == bindparam("customer_id"),
        UPLOADS.c.flow_id == bindparam("flow_id"),
        UPLOADS.c.content_sha256 == bindparam("sha256"),
        UPLOADS.c.start_time.is_not_distinct_from(bindparam("start_time", type_=UTCDateTime())),
        UPLOADS.c.id != bindparam("exclude_id"),
        # Called people, or may have (a batch Phonon may have received without answering).
        or_(
            UPLOADS.c.destination == "success",
            exists().where(
                BATCHES.c.upload_id == UPLOADS.c.id,
                BATCHES.c.status == BatchStatus.UNCERTAIN.value,
            ),
        ),
        UPLOADS.c.judged_at >= bindparam("since"),
    )
    .order_by(UPLOADS.c.judged_at)
    .limit(1)
)


@cache
def queue_email(dialect: str) -> Insert:
    """The upload's email into the outbox, unless it is there already (one email per upload)."""
    statement = postgresql.insert(OUTBOX) if dialect == "postgresql" else sqlite.insert(OUTBOX)
    return statement.on_conflict_do_nothing(index_elements=[OUTBOX.c.upload_id])


@cache
def due_email(*, skipping: bool, of_customers: bool) -> Select[Any]:
    """The oldest due email; ``skipping`` the emails in ``skip`` (being sent by another
    thread); ``of_customers``: only of the uploads of ``customers``."""
    query = DUE_EMAIL
    if skipping:
        query = query.where(OUTBOX.c.upload_id.not_in(bindparam("skip", expanding=True)))
    if of_customers:
        theirs = select(UPLOADS.c.id).where(
            UPLOADS.c.customer_id.in_(bindparam("customers", expanding=True))
        )
        query = query.where(OUTBOX.c.upload_id.in_(theirs))
    return query


@cache
def move(first: UploadState) -> Update:
    """An upload's move out of the states that lead to ``first``: one statement checks
    the state, locks the row and moves it (a concurrent writer's update is waited for,
    then this one matches nothing). The new values are bound at execution."""
    return (
        update(UPLOADS)
        .where(
            UPLOADS.c.id == bindparam("_id"),
            # Bound one by one, not as a list: a list is expanded into the SQL text on
            # every execution, which cost as much as the rest of the statement.
            UPLOADS.c.state.in_([literal(s.value) for s in predecessors(first)]),
        )
        .returning(*UPLOADS.c)
    )


# -- the rows they write --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedEmail:
    """The upload's email, as the outbox will hand it to the mail server."""

    message_id: str
    recipients: tuple[str, ...]
    raw: bytes


# What record_attempt changes on an email.
ATTEMPT_FIELDS = ("attempts", "status", "sent_at", "last_error", "next_attempt_at")


def step_row(
    upload_id: str, state: UploadState, now: datetime, detail: dict[str, Any] | None
) -> dict[str, Any]:
    return {"upload_id": upload_id, "state": state.value, "at": now, "detail": detail}


def batch_rows(upload_id: str, batches: Sequence[tuple[bytes, int]]) -> list[dict[str, Any]]:
    """An upload's batches (body, calls) as recorded: not tried yet."""
    pending = BatchStatus.PENDING.value
    return [
        {
            "upload_id": upload_id,
            "index": i,
            "body": body,
            "calls": calls,
            "status": pending,
            "attempts": 0,
        }
        for i, (body, calls) in enumerate(batches)
    ]


def outbox_row(upload_id: str, email: QueuedEmail, now: datetime) -> dict[str, Any]:
    """The email as it is queued: never tried, due at once."""
    return {
        "upload_id": upload_id,
        "message_id": email.message_id,
        "recipients": list(email.recipients),
        "raw": email.raw,
        "status": EmailStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "created_at": now,
        "sent_at": None,
    }
