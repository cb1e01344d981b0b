"""The state database's engine: SQLite tuned for several threads and crash safety, or PostgreSQL."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError

from sftp_watcher.observability.logs import get_logger

log = get_logger(__name__)

# A pooled PostgreSQL connection idle this long is pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(url: str) -> Engine:
    """An engine for ``url``, with SQLite tuned for several threads and a crash-safe journal."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        pool: dict[str, Any] = {}
        if parsed.database and parsed.database != ":memory:":
            _private_file(Path(parsed.database))
            # Room for every sweep worker, the outbox and health checks at once: beyond
            # SQLAlchemy's default 5, each checkout opened a new connection (and its PRAGMAs).
            pool = {"pool_size": 20, "max_overflow": 20}
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": 30},
            # No pre-ping: a file never drops a connection, and the extra query on every
            # checkout made each sweep's lookups cost several GIL hand-offs more.
            **pool,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit no longer waits for an fsync (one per step of
            # every upload was most of a small file's cost), yet survives a killed process,
            # the crash SPEC 9 promises to survive. An OS crash or power loss may drop the
            # last commits; the steps then run again, and repeating them is harmless (same
            # claim and archive names, byte-identical Phonon requests answered 201).
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, pool_size=10, max_overflow=10, connect_args=_pg_args(parsed))
    _ping_when_idle(engine)
    return engine


def _private_file(path: Path) -> None:
    """Create the SQLite file 0600 in a folder created 0700; tighten an existing one.

    The file holds customers' phone numbers, names and emails. SQLite gives its -wal and
    -shm files the main file's mode. An existing folder is left as it is (it may be
    shared); an existing file readable by others is tightened, with a warning.
    """
    if not path.parent.exists():
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                file.chmod(mode & 0o700)
                log.warning("state.permissions_tightened", path=str(file), was=oct(mode))
        except FileNotFoundError:
            continue


def _ping_when_idle(engine: Engine) -> None:
    """A connection idle for a while is pinged at checkout, and replaced if it is dead.

    So a connection the server (or a proxy) dropped during an outage never fails the
    first step after the database is back. SQLAlchemy's ``pool_pre_ping`` pings at every
    checkout: a step of an upload takes a connection, so that was a fifth of the round
    trips to the database. A connection back in the pool a moment ago is alive.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("checked_in_at")
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return  # new, or busy a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
            dbapi_conn.rollback()  # the ping's implicit transaction
        except Exception as exc:  # whatever the driver raises for a dead link
            # Makes the pool discard this connection and check out a new one.
            raise DisconnectionError(f"dropped while idle: {exc}") from exc


def _pg_args(url: Any) -> dict[str, Any]:
    # Every network call has a timeout, the database's included.
    return {"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {}
