"""The durable record of every upload (SQLAlchemy 2): SQLite by default, PostgreSQL for replicas.

Every method is one short transaction, so a crash leaves the database at the last
completed step. Objects handed out are detached snapshots: read them, don't modify them.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from sftp_watcher.errors import StateError, UploadTakenOver
from sftp_watcher.state import statements as sql
from sftp_watcher.state.emails import EmailRows, queue
from sftp_watcher.state.engine import make_engine
from sftp_watcher.state.models import (
    FINAL_STATES,
    Batch,
    BatchStatus,
    Channel,
    ServerProfile,
    Step,
    Upload,
    UploadState,
    check_transition,
    detached,
)
from sftp_watcher.state.statements import QueuedEmail as QueuedEmail  # noqa: PLC0414 (re-export)

_MIGRATIONS = "sftp_watcher.state:migrations"
# The newest migration's revision id (a test checks it against Alembic's script directory):
# a database already at it starts without importing Alembic (0.4-0.9 s of a cold start).
SCHEMA_HEAD = "0004"


@dataclass(frozen=True, slots=True)
class BatchMark:
    """A batch's new status and the fields that go with it (code, message, request id...)."""

    index: int
    status: BatchStatus
    fields: dict[str, Any] = field(default_factory=dict)


class Store(EmailRows):
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
        except (SQLAlchemyError, ValueError, OSError) as exc:
            raise StateError(f"state_url is not usable: {exc}") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Replicas may share it (PostgreSQL, row locks); SQLite serves one replica.
        self.shared = self.engine.dialect.name == "postgresql"
        self._held = _Held()

    def __repr__(self) -> str:
        return f"Store({make_url(self.url).render_as_string(hide_password=True)!r})"

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and bring the schema up to date (migrations run on every start)."""
        store = cls(url)
        store.migrate()
        return store

    def migrate(self) -> None:
        if self.revision() == SCHEMA_HEAD:
            return
        from alembic import command
        from alembic.config import Config as AlembicConfig

        config = AlembicConfig()
        config.set_main_option("script_location", _MIGRATIONS)
        try:
            with self.engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # Replicas starting together: one migrates, the others wait for it.
                    connection.execute(text("SELECT pg_advisory_xact_lock(726354)"))
                else:
                    # pysqlite runs DDL outside any transaction, so a kill between two
                    # CREATE TABLEs left a schema no later start could migrate. SQLite's
                    # DDL is transactional once a transaction is open.
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StateError(f"cannot migrate the state database: {exc}") from exc

    def revision(self) -> str | None:
        """The database's schema revision, or None when it has none (never migrated)."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(
                    text("SELECT version_num FROM alembic_version")
                ).scalar_one_or_none()
        except SQLAlchemyError:
            # No alembic_version table (an empty database), or several rows: migrate decides.
            return None

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    @contextmanager
    def session(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise StateError(f"state database error: {exc.__class__.__name__}: {exc}") from exc

    @contextmanager
    def holding_connection(self) -> Iterator[None]:
        """SQLite: this thread's steps share one connection until the block ends (a sweep):
        a pool checkout and return per step cost as much as its SQL. (PostgreSQL's pool
        pings a connection that sat idle: every step still checks one out.)"""
        if self.shared or self._held.active:
            yield
            return
        self._held.active = True
        try:
            yield
        finally:
            self._held.active = False
            self._drop_held()

    def _drop_held(self) -> None:
        connection, self._held.connection = self._held.connection, None
        if connection is not None:
            connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A Core transaction: every upload's steps take it, so no ORM unit of work."""
        try:
            if not self._held.active:
                with self.engine.begin() as connection:
                    yield connection
                return
            if self._held.connection is None:
                self._held.connection = self.engine.connect()
            with self._held.connection.begin():
                yield self._held.connection
        except SQLAlchemyError as exc:
            self._drop_held()  # not kept after a failure: the next step takes a fresh one
            raise StateError(f"state database error: {exc.__class__.__name__}: {exc}") from exc

    # -- uploads -------------------------------------------------------------------------

    def create_upload(
        self,
        *,
        upload_id: str,
        customer_id: str,
        original_name: str,
        claim_name: str,
        size: int,
        uploaded_at: datetime | None,
        now: datetime,
        state: UploadState = UploadState.CLAIMING,
        channel: Channel = Channel.SFTP,
        sender: str | None = None,
        judged_name: str | None = None,
    ) -> Upload:
        """Record an upload in ``state`` (CLAIMING; a door's staged item: CLAIMED), taken
        in hand by this process (its first attempt)."""
        values: dict[str, Any] = {c.name: None for c in sql.UPLOADS.columns} | {
            "id": upload_id,
            "customer_id": customer_id,
            "original_name": original_name,
            "claim_name": claim_name,
            "state": state,
            "size": size,
            "uploaded_at": uploaded_at,
            "created_at": now,
            "updated_at": now,
            "rows_total": 0,
            "rows_valid": 0,
            "rows_rejected": 0,
            "rows_triggered": 0,
            "channel": channel,
            "sender": sender,
            "judged_name": judged_name,
            "attempts": 1,
        }
        with self._transaction() as connection:
            connection.execute(sql.INSERT_UPLOAD, values)
            connection.execute(sql.INSERT_STEP, sql.step_row(upload_id, state, now, None))
        return detached(Upload, values)

    def begin_attempt(self, upload_id: str, *, now: datetime) -> Upload:
        """Count one more process run taking the unfinished upload in hand; the upload as
        it stands. ``UploadTakenOver`` when it finished meanwhile."""
        with self._transaction() as connection:
            row = (
                connection.execute(sql.BEGIN_ATTEMPT, {"_id": upload_id, "updated_at": now})
                .mappings()
                .first()
            )
        if row is None:
            raise UploadTakenOver(f"upload {upload_id} is finished or gone")
        return detached(Upload, row)

    def forget_attempt(self, upload_id: str) -> None:
        """Take back an attempt that a transient outage (server, database) cut short."""
        with self._transaction() as connection:
            connection.execute(sql.FORGET_ATTEMPT, {"_id": upload_id})

    def advance(
        self,
        upload_id: str,
        target: UploadState,
        *,
        now: datetime,
        detail: dict[str, Any] | None = None,
        batches: Sequence[tuple[bytes, int]] = (),
        via: Sequence[tuple[UploadState, dict[str, Any] | None]] = (),
        mark: BatchMark | None = None,
        email: QueuedEmail | None = None,
        **fields: Any,
    ) -> Upload:
        """Move an upload to ``target`` with ``fields`` set, in one transaction.

        ``via``: states passed through on the way (each checked and kept in the history
        with its detail), when one transaction records several steps. ``mark``: a batch's
        answer recorded with it; ``email``: the upload's email queued with it (once).
        """
        chain = [*via, (target, detail)]
        for (before, _), (after, _) in itertools.pairwise(chain):
            check_transition(upload_id, before, after)
        first = chain[0][0]
        values = {"state": target.value, "updated_at": now, **fields}
        if target in FINAL_STATES:
            values["finished_at"] = now
        with self._transaction() as connection:
            row = (
                connection.execute(sql.move(first), {"_id": upload_id, **values}).mappings().first()
            )
            if row is None:
                current = UploadState(self._locked_upload(connection, upload_id)["state"])
                check_transition(upload_id, current, first)  # raises: that is why it failed
                raise StateError(f"upload {upload_id} could not move to {target}")
            steps = [
                sql.step_row(upload_id, state, now, step_detail) for state, step_detail in chain
            ]
            connection.execute(sql.INSERT_STEP, steps)
            if batches:
                rows = sql.batch_rows(upload_id, batches)
                if mark is not None and mark.status is BatchStatus.SENDING and not mark.fields:
                    rows[mark.index] |= {"status": mark.status.value, "attempts": 1}
                    mark = None  # a batch just inserted: inserted as being sent instead
                connection.execute(sql.INSERT_BATCH, rows)
            if mark is not None:
                _mark(connection, upload_id, mark, now)
            if email is not None:
                queue(connection, upload_id, email, now)
        return detached(Upload, row)

    def update(self, upload_id: str, *, now: datetime, **fields: Any) -> None:
        """Record a decision inside the current state (e.g. the archive name, before moving)."""
        with self._transaction() as connection:
            result = connection.execute(
                sql.UPDATE_UPLOAD, {"_id": upload_id, **fields, "updated_at": now}
            )
            if result.rowcount == 0:
                raise StateError(f"upload {upload_id} is not in the state database")

    @staticmethod
    def _locked_upload(connection: Connection, upload_id: str) -> RowMapping:
        query = select(sql.UPLOADS).where(sql.UPLOADS.c.id == upload_id).with_for_update()
        row = connection.execute(query).mappings().first()
        if row is None:
            raise StateError(f"upload {upload_id} is not in the state database")
        return row

    def get(self, upload_id: str) -> Upload | None:
        with self.session() as session:
            return session.get(Upload, upload_id)

    def unfinished(
        self, customer_id: str, channels: Collection[Channel] = (Channel.SFTP, Channel.LOCAL)
    ) -> list[Upload]:
        """The account's unfinished uploads that came in by one of ``channels`` (a sweep
        resumes its own door's, each door its own), oldest first."""
        # Asked on every sweep of every account and nearly always empty: an indexed
        # Core lookup costs a fraction of an ORM session, which only runs if it finds one.
        which = {"customer_id": customer_id, "channels": [c.value for c in channels]}
        try:
            with self.engine.connect() as connection:
                found = connection.execute(sql.ANY_UNFINISHED, which).first()
        except SQLAlchemyError as exc:
            raise StateError(f"state database error: {exc.__class__.__name__}: {exc}") from exc
        if found is None:
            return []
        query = select(Upload).where(*sql.UNFINISHED).order_by(Upload.created_at)
        with self.session() as session:
            return list(session.scalars(query, which))

    def find_duplicate(
        self,
        *,
        customer_id: str,
        flow_id: str,
        sha256: str,
        since: datetime,
        exclude_id: str,
        start_time: datetime | None = None,
    ) -> Upload | None:
        """An earlier upload of the same content for the same flow and file-name start
        time (SPEC 5) that called people, or may have (a batch Phonon may have received
        without answering)."""
        wanted = {
            "customer_id": customer_id,
            "flow_id": flow_id,
            "sha256": sha256,
            "start_time": start_time,
            "since": since,
            "exclude_id": exclude_id,
        }
        # Asked for every file and nearly always empty: a Core lookup, then the ORM row.
        with self._transaction() as connection:
            found = connection.execute(sql.EARLIER_UPLOAD, wanted).scalar()
        return None if found is None else self.get(found)

    def steps(self, upload_id: str) -> list[Step]:
        with self.session() as session:
            return list(
                session.scalars(select(Step).where(Step.upload_id == upload_id).order_by(Step.id))
            )

    def recent(self, *, customer_id: str | None = None, limit: int = 20) -> list[Upload]:
        with self.session() as session:
            query = select(Upload).order_by(Upload.created_at.desc(), Upload.id).limit(limit)
            if customer_id is not None:
                query = query.where(Upload.customer_id == customer_id)
            return list(session.scalars(query))

    # -- batches -------------------------------------------------------------------------

    def batches(self, upload_id: str) -> list[Batch]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(Batch).where(Batch.upload_id == upload_id).order_by(Batch.index)
                )
            )

    def mark_batch(
        self, upload_id: str, index: int, status: BatchStatus, *, now: datetime, **fields: Any
    ) -> None:
        self.mark_batches(upload_id, [BatchMark(index, status, fields)], now=now)

    def mark_batches(self, upload_id: str, marks: Sequence[BatchMark], *, now: datetime) -> None:
        """Record several batches' statuses in one transaction."""
        with self._transaction() as connection:
            for mark in marks:
                _mark(connection, upload_id, mark, now)

    # -- server profiles -----------------------------------------------------------------

    def save_profile(self, customer_id: str, profile: dict[str, Any], *, now: datetime) -> None:
        with self.session() as session:
            session.merge(ServerProfile(customer_id=customer_id, profile=profile, recorded_at=now))

    def profile(self, customer_id: str) -> dict[str, Any] | None:
        with self.session() as session:
            row = session.get(ServerProfile, customer_id)
            return None if row is None else dict(row.profile)


class _Held(threading.local):
    """A thread's shared connection while ``holding_connection`` is active (SQLite)."""

    active = False
    connection: Connection | None = None


def _mark(connection: Connection, upload_id: str, mark: BatchMark, now: datetime) -> None:
    values: dict[str, Any] = {**mark.fields, "status": mark.status.value}
    statement = sql.MARK_BATCH
    if mark.status is BatchStatus.SENDING:
        statement = sql.MARK_BATCH_ATTEMPT
    if mark.status is BatchStatus.SENT:
        values["sent_at"] = now
    where = {"_upload_id": upload_id, "_index": mark.index}
    if connection.execute(statement, where | values).rowcount == 0:
        raise StateError(f"upload {upload_id} has no batch {mark.index}")
