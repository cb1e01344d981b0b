"""Server-side sessions of the upload page (SPEC 12): signing out deletes the row, so an
old cookie replayed is refused; a session unused for ``idle`` ends."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from sftp_watcher.errors import StateError
from sftp_watcher.state.models import Base
from sftp_watcher.state.store import Store

COOKIE = "sw_session"
# last_seen_at is written at most this often: a page view should not always write.
_TOUCH_EVERY = timedelta(minutes=1)
_TABLE = Base.metadata.tables["web_sessions"]


@dataclass(frozen=True, slots=True)
class SignedIn:
    session_id: str  # the SHA-256 of the cookie's token, as stored
    customer_id: str
    email: str


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, store: Store, idle: timedelta, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._idle = idle
        self._clock = clock

    def start(self, customer_id: str, email: str) -> str:
        """A new session; returns the cookie's token (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        row = {
            "id": _session_id(token),
            "customer_id": customer_id,
            "email": email,
            "created_at": now,
            "last_seen_at": now,
        }
        with self._connection() as connection:
            connection.execute(insert(_TABLE), row)
            # Ended sessions of everyone are swept here, so the table stays small.
            connection.execute(delete(_TABLE).where(_TABLE.c.last_seen_at < now - self._idle))
        return token

    def find(self, token: str | None) -> SignedIn | None:
        if not token or len(token) > 128:
            return None
        session_id = _session_id(token)
        now = self._clock()
        with self._connection() as connection:
            row = connection.execute(select(_TABLE).where(_TABLE.c.id == session_id)).one_or_none()
            if row is None:
                return None
            if row.last_seen_at < now - self._idle:
                connection.execute(delete(_TABLE).where(_TABLE.c.id == session_id))
                return None
            if row.last_seen_at < now - _TOUCH_EVERY:
                connection.execute(
                    update(_TABLE).where(_TABLE.c.id == session_id).values(last_seen_at=now)
                )
        return SignedIn(session_id, row.customer_id, row.email)

    def end(self, session_id: str) -> None:
        with self._connection() as connection:
            connection.execute(delete(_TABLE).where(_TABLE.c.id == session_id))

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        try:
            with self._store.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StateError(f"state database error: {exc.__class__.__name__}") from exc
