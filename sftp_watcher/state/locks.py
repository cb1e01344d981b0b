"""One poller per account at a time, across threads, processes and replicas.

On PostgreSQL a session-level advisory lock is held on a dedicated connection for as
long as the account is being worked on; if the replica dies, PostgreSQL ends its
session and the lock frees itself. On SQLite the processes sharing the database file
(`run`, a `poll-once` from cron, `processes: N` children) take an operating-system
lock (``flock``) on a file of their own beside it, ``<database>.locks/<account>.lock``:
the kernel frees it when the process dies, so it means what the advisory lock means.
Within a process a thread lock comes first, so threads never contend on the file.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from sftp_watcher.errors import StateError

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:k)")
_UNLOCK = text("SELECT pg_advisory_unlock(:k)")
# Characters kept from a customer id in its lock file's name; the hash makes it unique.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_NAME_CHARS = 48


def _lock_key(customer_id: str) -> int:
    digest = hashlib.sha256(f"sftp-watcher:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_file_name(customer_id: str) -> str:
    """A file name for the account's lock, whatever its id holds (``/``, ``..``, length)."""
    readable = _UNSAFE.sub("_", customer_id)[:_NAME_CHARS]
    digest = hashlib.sha256(customer_id.encode()).hexdigest()[:16]
    return f"{readable}-{digest}.lock"


def lock_folder(engine: Engine) -> Path | None:
    """``<database>.locks`` beside a SQLite file; None for PostgreSQL or an in-memory one."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).absolute()
    return path.with_name(f"{path.name}.locks")


class AccountLocks:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._postgres = engine.dialect.name == "postgresql"
        self._folder = lock_folder(engine)

    @contextmanager
    def hold(self, customer_id: str) -> Iterator[bool]:
        """Yield True with the account's lock held, or False at once if another holds it."""
        with self._guard:
            local = self._local.setdefault(customer_id, threading.Lock())
        if not local.acquire(blocking=False):
            yield False
            return
        try:
            if self._postgres:
                with self._advisory(customer_id) as held:
                    yield held
            elif self._folder is not None:
                with self._flock(self._folder, customer_id) as held:
                    yield held
            else:
                yield True
        finally:
            local.release()

    @contextmanager
    def _flock(self, folder: Path, customer_id: str) -> Iterator[bool]:
        path = folder / lock_file_name(customer_id)
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            # The file stays (removing it would race with a process about to lock it);
            # one small empty file per account.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateError(f"cannot open the account lock {path}: {exc.strerror}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise StateError(f"cannot take the account lock {path}: {exc}") from exc
                yield False  # another process sweeps the account
                return
            yield True  # closing the descriptor below releases the lock
        finally:
            os.close(fd)

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
