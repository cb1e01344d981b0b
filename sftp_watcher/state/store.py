"""The durable record of every upload (SQLAlchemy 2): SQLite by default, PostgreSQL for replicas.

Every method is one short transaction, so a crash leaves the database at the last
completed step. Objects handed out are detached snapshots: read them, don't modify them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from sftp_watcher.errors import StateError
from sftp_watcher.state.models import (
    FINAL_STATES,
    Batch,
    BatchStatus,
    EmailStatus,
    OutboxEmail,
    ServerProfile,
    Step,
    Upload,
    UploadState,
    check_transition,
)

_MIGRATIONS = "sftp_watcher.state:migrations"


def make_engine(url: str) -> Engine:
    """An engine for ``url``, with SQLite tuned for several threads and a crash-safe journal."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        pool: dict[str, Any] = {}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
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
    return create_engine(
        parsed, pool_pre_ping=True, pool_size=10, max_overflow=10, connect_args=_pg_args(parsed)
    )


def _pg_args(url: Any) -> dict[str, Any]:
    # Every network call has a timeout, the database's included.
    return {"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {}


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
        except (SQLAlchemyError, ValueError, OSError) as exc:
            raise StateError(f"state_url is not usable: {exc}") from exc
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Store({make_url(self.url).render_as_string(hide_password=True)!r})"

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and bring the schema up to date (migrations run on every start)."""
        store = cls(url)
        store.migrate()
        return store

    def migrate(self) -> None:
        config = AlembicConfig()
        config.set_main_option("script_location", _MIGRATIONS)
        try:
            with self.engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # Replicas starting together: one migrates, the others wait for it.
                    connection.execute(text("SELECT pg_advisory_xact_lock(726354)"))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StateError(f"cannot migrate the state database: {exc}") from exc

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
    ) -> Upload:
        upload = Upload(
            id=upload_id,
            customer_id=customer_id,
            original_name=original_name,
            claim_name=claim_name,
            state=UploadState.CLAIMING.value,
            size=size,
            uploaded_at=uploaded_at,
            created_at=now,
            updated_at=now,
            rows_total=0,
            rows_valid=0,
            rows_rejected=0,
            rows_triggered=0,
        )
        with self.session() as session:
            session.add(upload)
            session.add(Step(upload_id=upload_id, state=upload.state, at=now, detail=None))
        return upload

    def advance(
        self,
        upload_id: str,
        target: UploadState,
        *,
        now: datetime,
        detail: dict[str, Any] | None = None,
        batches: Sequence[tuple[bytes, int]] = (),
        **fields: Any,
    ) -> Upload:
        """Move an upload to ``target`` with ``fields`` set, in one transaction."""
        with self.session() as session:
            upload = session.get(Upload, upload_id, with_for_update=True)
            if upload is None:
                raise StateError(f"upload {upload_id} is not in the state database")
            check_transition(upload_id, UploadState(upload.state), target)
            upload.state = target.value
            upload.updated_at = now
            for name, value in fields.items():
                setattr(upload, name, value)
            if target in FINAL_STATES:
                upload.finished_at = now
            for index, (body, calls) in enumerate(batches):
                session.add(Batch(upload_id=upload_id, index=index, body=body, calls=calls))
            session.add(Step(upload_id=upload_id, state=target.value, at=now, detail=detail))
        return upload

    def update(self, upload_id: str, *, now: datetime, **fields: Any) -> None:
        """Record a decision inside the current state (e.g. the archive name, before moving)."""
        with self.session() as session:
            upload = session.get(Upload, upload_id)
            if upload is None:
                raise StateError(f"upload {upload_id} is not in the state database")
            for name, value in fields.items():
                setattr(upload, name, value)
            upload.updated_at = now

    def get(self, upload_id: str) -> Upload | None:
        with self.session() as session:
            return session.get(Upload, upload_id)

    def unfinished(self, customer_id: str) -> list[Upload]:
        finals = [s.value for s in FINAL_STATES]
        pending = (Upload.customer_id == customer_id, Upload.state.not_in(finals))
        # Asked on every sweep of every account and nearly always empty: an indexed
        # Core lookup costs a fraction of an ORM session, which only runs if it finds one.
        try:
            with self.engine.connect() as connection:
                found = connection.execute(select(Upload.id).where(*pending).limit(1)).first()
        except SQLAlchemyError as exc:
            raise StateError(f"state database error: {exc.__class__.__name__}: {exc}") from exc
        if found is None:
            return []
        with self.session() as session:
            rows = session.scalars(select(Upload).where(*pending).order_by(Upload.created_at))
            return list(rows)

    def find_duplicate(
        self, *, customer_id: str, flow_id: str, sha256: str, since: datetime, exclude_id: str
    ) -> Upload | None:
        """An earlier upload of the same content for the same flow that called people."""
        with self.session() as session:
            return session.scalars(
                select(Upload)
                .where(
                    Upload.customer_id == customer_id,
                    Upload.flow_id == flow_id,
                    Upload.content_sha256 == sha256,
                    Upload.id != exclude_id,
                    Upload.destination == "success",
                    Upload.judged_at >= since,
                )
                .order_by(Upload.judged_at)
                .limit(1)
            ).first()

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
        with self.session() as session:
            batch = session.get(Batch, (upload_id, index))
            if batch is None:
                raise StateError(f"upload {upload_id} has no batch {index}")
            batch.status = status.value
            if status is BatchStatus.SENDING:
                batch.attempts += 1
            if status is BatchStatus.SENT:
                batch.sent_at = now
            for name, value in fields.items():
                setattr(batch, name, value)

    # -- outbox --------------------------------------------------------------------------

    def enqueue_email(
        self,
        *,
        upload_id: str,
        message_id: str,
        recipients: Sequence[str],
        raw: bytes,
        now: datetime,
    ) -> None:
        """Queue the upload's email; queuing it again is a no-op (one email per upload)."""
        try:
            with self.session() as session:
                if session.get(OutboxEmail, upload_id) is not None:
                    return
                session.add(
                    OutboxEmail(
                        upload_id=upload_id,
                        message_id=message_id,
                        recipients=list(recipients),
                        raw=raw,
                        status=EmailStatus.PENDING.value,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        except StateError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise

    def due_emails(self, now: datetime, *, limit: int = 50) -> list[OutboxEmail]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(OutboxEmail)
                    .where(
                        OutboxEmail.status == EmailStatus.PENDING.value,
                        OutboxEmail.next_attempt_at <= now,
                    )
                    .order_by(OutboxEmail.next_attempt_at)
                    .limit(limit)
                )
            )

    @contextmanager
    def claim_due_email(self, now: datetime) -> Iterator[OutboxEmail | None]:
        """The oldest due email (or None), locked while the block runs; record the attempt
        on it with ``record_attempt``. Replicas flush one outbox: on PostgreSQL the row lock
        (FOR UPDATE SKIP LOCKED) keeps the others off it and dies with a dead sender.
        """
        due = (
            select(OutboxEmail)
            .where(
                OutboxEmail.status == EmailStatus.PENDING.value,
                OutboxEmail.next_attempt_at <= now,
            )
            .order_by(OutboxEmail.next_attempt_at)
            .limit(1)
        )
        if self.engine.dialect.name != "postgresql":
            # SQLite serves one process: nobody to lock out. And a read transaction held
            # across the send could not turn into a write if a sweep wrote meanwhile.
            with self.session() as session:
                email = session.scalars(due).first()
            yield email
            if email is not None:
                with self.session() as session:
                    session.merge(email)
            return
        with self.session() as session:
            yield session.scalars(due.with_for_update(skip_locked=True)).first()

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

    def email_attempted(
        self, upload_id: str, *, sent: bool, now: datetime, retry_at: datetime, error: str | None
    ) -> None:
        with self.session() as session:
            email = session.get(OutboxEmail, upload_id)
            if email is None:
                return
            self.record_attempt(email, sent=sent, now=now, retry_at=retry_at, error=error)

    def email_for(self, upload_id: str) -> OutboxEmail | None:
        with self.session() as session:
            return session.get(OutboxEmail, upload_id)

    # -- server profiles -----------------------------------------------------------------

    def save_profile(self, customer_id: str, profile: dict[str, Any], *, now: datetime) -> None:
        with self.session() as session:
            session.merge(ServerProfile(customer_id=customer_id, profile=profile, recorded_at=now))

    def profile(self, customer_id: str) -> dict[str, Any] | None:
        with self.session() as session:
            row = session.get(ServerProfile, customer_id)
            return None if row is None else dict(row.profile)
