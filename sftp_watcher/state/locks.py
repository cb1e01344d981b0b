"""One poller per account at a time, across replicas.

On PostgreSQL a session-level advisory lock is held on a dedicated connection for as
long as the account is being worked on; if the replica dies, PostgreSQL ends its
session and the lock frees itself. SQLite serves one process, so a thread lock does.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from sftp_watcher.errors import StateError

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:k)")
_UNLOCK = text("SELECT pg_advisory_unlock(:k)")


def _lock_key(customer_id: str) -> int:
    digest = hashlib.sha256(f"sftp-watcher:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AccountLocks:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._postgres = engine.dialect.name == "postgresql"

    @contextmanager
    def hold(self, customer_id: str) -> Iterator[bool]:
        """Yield True with the account's lock held, or False at once if another holds it."""
        with self._guard:
            local = self._local.setdefault(customer_id, threading.Lock())
        if not local.acquire(blocking=False):
            yield False
            return
        try:
            if not self._postgres:
                yield True
                return
            with self._advisory(customer_id) as held:
                yield held
        finally:
            local.release()

    @contextmanager
    def _advisory(self, customer_id: str) -> Iterator[bool]:
        key = _lock_key(customer_id)
        try:
            # Autocommit: a session-level lock needs no transaction around it, and every
            # sweep of every account takes one; BEGIN and COMMIT would double its cost.
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            raise StateError(f"cannot reach the state database for a lock: {exc}") from exc
        try:
            held = bool(connection.execute(_TRY_LOCK, {"k": key}).scalar())
        except SQLAlchemyError as exc:
            connection.close()
            raise StateError(f"cannot take the account lock: {exc}") from exc
        try:
            yield held
        finally:
            try:
                if held:
                    connection.execute(_UNLOCK, {"k": key})
            except SQLAlchemyError:
                # The connection is gone, and with it the lock: nothing to release.
                connection.invalidate()
            finally:
                connection.close()
