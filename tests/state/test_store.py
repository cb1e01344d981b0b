"""The state database: migrations, the upload lifecycle, the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.operations import Operations
from sqlalchemy import event, inspect

from sftp_watcher.errors import InvalidTransition, StateError, UploadTakenOver
from sftp_watcher.state.locks import AccountLocks
from sftp_watcher.state.models import BatchStatus, Channel, UploadState, snapshot
from sftp_watcher.state.store import BatchMark, QueuedEmail, Store

NOW = datetime(2026, 2, 8, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path) -> Store:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    s = Store.open(url)
    yield s
    s.close()


def _new(store: Store, upload_id: str = "u1") -> None:
    store.create_upload(
        upload_id=upload_id,
        customer_id="acme",
        original_name="C1_abc.csv",
        claim_name=f".claim.{upload_id}",
        size=10,
        uploaded_at=NOW,
        now=NOW,
    )


def test_migrations_are_idempotent(store: Store) -> None:
    store.migrate()
    assert store.ping()


def test_upload_moves_forward_and_keeps_its_history(store: Store) -> None:
    _new(store)
    store.advance("u1", UploadState.CLAIMED, now=NOW)
    store.advance(
        "u1",
        UploadState.JUDGED,
        now=NOW,
        batches=[(b'{"a":1}', 1), (b'{"b":2}', 2)],
        flow_id="abc",
        destination="success",
        content_sha256="f" * 64,
        judged_at=NOW,
    )
    assert [b.calls for b in store.batches("u1")] == [1, 2]
    assert [s.state for s in store.steps("u1")] == ["claiming", "claimed", "judged"]
    assert store.get("u1").uploaded_at == NOW  # aware datetimes come back aware
    assert [u.id for u in store.unfinished("acme")] == ["u1"]


def test_a_state_cannot_be_skipped(store: Store) -> None:
    _new(store)
    with pytest.raises(InvalidTransition):
        store.advance("u1", UploadState.ARCHIVED, now=NOW)


def test_batch_attempts_are_counted(store: Store) -> None:
    _new(store)
    store.advance("u1", UploadState.CLAIMED, now=NOW)
    store.advance("u1", UploadState.JUDGED, now=NOW, batches=[(b"x", 1)])
    store.mark_batch("u1", 0, BatchStatus.SENDING, now=NOW)
    store.mark_batch("u1", 0, BatchStatus.SENDING, now=NOW)
    store.mark_batch("u1", 0, BatchStatus.SENT, now=NOW, request_id="r1", code=200)
    (batch,) = store.batches("u1")
    assert (batch.status, batch.attempts, batch.request_id) == ("sent", 2, "r1")


def _judged_as(store: Store, uid: str, when: datetime, sha256: str, **fields: Any) -> None:
    _new(store, uid)
    store.advance(uid, UploadState.CLAIMED, now=when)
    store.advance(
        uid,
        UploadState.JUDGED,
        now=when,
        flow_id="abc",
        destination="success",
        content_sha256=sha256,
        judged_at=when,
        **fields,
    )


def _duplicate_id(store: Store, sha256: str, flow_id: str = "abc") -> str | None:
    found = store.find_duplicate(
        customer_id="acme",
        flow_id=flow_id,
        sha256=sha256,
        since=NOW - timedelta(hours=24),
        exclude_id="new",
    )
    return None if found is None else found.id


def test_duplicate_lookup_finds_earlier_successful_upload_in_window(store: Store) -> None:
    for uid, when in (("old", NOW - timedelta(hours=30)), ("recent", NOW - timedelta(hours=2))):
        _judged_as(store, uid, when, "a" * 64)
    assert _duplicate_id(store, "a" * 64) == "recent"
    assert _duplicate_id(store, "a" * 64, flow_id="other") is None


def test_outbox_queues_one_email_per_upload_and_retries(store: Store) -> None:
    for _ in range(2):
        store.enqueue_email("u1", QueuedEmail("<u1@x>", ("a@b.c",), b"raw"), now=NOW)
    assert store.pending_email_count() == 1
    with store.claim_due_email(NOW) as email:
        assert email is not None
        retry_at = NOW + timedelta(minutes=1)
        store.record_attempt(email, sent=False, now=NOW, retry_at=retry_at, error="down")
    with store.claim_due_email(NOW) as email:
        assert email is None  # not due again before retry_at
    with store.claim_due_email(NOW + timedelta(minutes=2)) as email:
        assert email is not None and email.upload_id == "u1"
        store.record_attempt(email, sent=True, now=NOW, retry_at=NOW, error=None)
    assert store.pending_email_count() == 0


def test_account_lock_is_exclusive_and_freed(store: Store) -> None:
    locks = AccountLocks(store.engine)
    other = AccountLocks(store.engine)  # as another replica would hold it
    with locks.hold("acme") as held:
        assert held
        with other.hold("acme") as held_elsewhere:
            if store.engine.dialect.name == "postgresql":
                assert not held_elsewhere
        with locks.hold("acme") as again:
            assert not again
    with other.hold("acme") as held:
        assert held


def test_repr_hides_the_database_password(tmp_path) -> None:
    store = Store("postgresql+psycopg://user:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in repr(store)
    store.close()


def _judged(store: Store) -> None:
    _new(store)
    store.advance(
        "u1",
        UploadState.JUDGED,
        now=NOW,
        via=[(UploadState.CLAIMED, None)],
        batches=[(b"x", 3)],
        destination="success",
    )


def test_one_transaction_records_every_state_it_passes_through(store: Store) -> None:
    _judged(store)
    store.mark_batch("u1", 0, BatchStatus.SENDING, now=NOW)
    store.advance(
        "u1",
        UploadState.TRIGGERED,
        now=NOW,
        mark=BatchMark(0, BatchStatus.SENT, {"code": 200, "request_id": "r1"}),
        rows_triggered=3,
        archived_as="C1_abc.csv",
    )
    done = store.advance(
        "u1",
        UploadState.DONE,
        now=NOW,
        via=[(UploadState.ARCHIVED, {"folder": "success"})],
        email=QueuedEmail("<u1@example.com>", ("ops@acme.example",), b"raw"),
        errors_file=None,
    )

    assert [s.state for s in store.steps("u1")] == [
        "claiming",
        "claimed",
        "judged",
        "triggered",
        "archived",
        "done",
    ]
    assert [s.detail for s in store.steps("u1")][4] == {"folder": "success"}
    (batch,) = store.batches("u1")
    assert (batch.status, batch.attempts, batch.request_id, batch.code) == ("sent", 1, "r1", 200)
    assert (done.state, done.archived_as, done.rows_triggered) == ("done", "C1_abc.csv", 3)
    assert done.finished_at == NOW
    stored = store.get("u1")
    assert (stored.state, stored.archived_as, stored.finished_at) == ("done", "C1_abc.csv", NOW)
    assert store.email_for("u1").raw == b"raw"
    assert store.unfinished("acme") == []


def test_a_refused_transition_records_nothing_of_its_transaction(store: Store) -> None:
    _judged(store)
    with pytest.raises(InvalidTransition):
        store.advance(
            "u1",
            UploadState.DONE,
            now=NOW,
            via=[(UploadState.ARCHIVED, None)],  # TRIGGERED was skipped
            email=QueuedEmail("<u1@example.com>", ("ops@acme.example",), b"raw"),
            archived_as="C1_abc.csv",
        )
    assert store.get("u1").state == "judged"
    assert store.get("u1").archived_as is None
    assert store.email_for("u1") is None
    assert [s.state for s in store.steps("u1")] == ["claiming", "claimed", "judged"]


def test_a_batch_answer_for_a_missing_batch_undoes_the_whole_step(store: Store) -> None:
    _judged(store)
    with pytest.raises(StateError, match="no batch 7"):
        store.advance("u1", UploadState.TRIGGERED, now=NOW, mark=BatchMark(7, BatchStatus.SENT, {}))
    assert store.get("u1").state == "judged"


def test_an_email_queued_with_a_step_is_queued_once(store: Store) -> None:
    _new(store)
    store.enqueue_email("u1", QueuedEmail("<first>", ("a@b.example",), b"1"), now=NOW)
    store.advance(
        "u1",
        UploadState.ABANDONED,
        now=NOW,
        email=QueuedEmail("<second>", ("a@b.example",), b"2"),
    )
    assert store.email_for("u1").message_id == "<first>"
    assert store.pending_email_count() == 1


def test_a_first_migration_cut_short_leaves_nothing_behind_on_sqlite(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill between two CREATE TABLEs used to leave a schema no later start could migrate."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    real_create = Operations.create_table

    def killed_at_batches(self: Operations, name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "batches":
            raise RuntimeError("killed")
        return real_create(self, name, *args, **kwargs)

    monkeypatch.setattr(Operations, "create_table", killed_at_batches)
    with pytest.raises(RuntimeError):
        Store.open(url)
    monkeypatch.undo()

    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []
    store = Store.open(url)
    _new(store)
    assert store.get("u1") is not None
    store.close()


def test_duplicate_lookup_counts_a_failed_upload_phonon_may_have_received(store: Store) -> None:
    for uid, status in (("refused", BatchStatus.FAILED), ("silent", BatchStatus.UNCERTAIN)):
        _judged_as(store, uid, NOW, uid * 8, batches=[(b"x", 1)])
        store.mark_batch(uid, 0, status, now=NOW)
        store.update(uid, now=NOW, destination="failure")
    assert _duplicate_id(store, "refused" * 8) is None, "a list Phonon refused called nobody"
    assert _duplicate_id(store, "silent" * 8) == "silent"


def test_a_step_returns_the_row_as_recorded_outside_any_session(store: Store) -> None:
    _new(store)
    claimed = store.advance("u1", UploadState.CLAIMED, now=NOW, flow_id="abc")
    assert (claimed.id, claimed.state, claimed.flow_id) == ("u1", "claimed", "abc")
    assert claimed.size == 10
    assert inspect(claimed).session is None
    assert claimed.uploaded_at == NOW and claimed.uploaded_at.tzinfo is not None

    later = snapshot(claimed, state="judged", reason="x")
    assert (later.state, later.reason, later.flow_id) == ("judged", "x", "abc")
    assert claimed.state == "claimed"  # a copy: the original is untouched
    loaded = store.get("u1")
    assert loaded is not None and loaded.state == "claimed" and loaded.flow_id == "abc"


def test_a_sweeps_steps_share_one_connection_on_sqlite(tmp_path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    checkouts: list[int] = []
    event.listen(store.engine, "checkout", lambda *_: checkouts.append(1))
    try:
        with store.holding_connection():
            _judged_as(store, "u1", NOW, "a" * 64)
            assert _duplicate_id(store, "a" * 64) == "u1"  # (its ORM row: a checkout)
            with pytest.raises(StateError):
                _new(store, "u1")  # a failing step gives its connection up...
            _new(store, "u2")  # ...and the next one takes another
        assert len(checkouts) == 3
        _new(store, "u3")  # outside the block every step takes its own
        assert len(checkouts) == 4
        assert sorted(u.id for u in store.recent()) == ["u1", "u2", "u3"]
    finally:
        store.close()


def test_attempts_are_counted_per_run_and_an_outage_takes_one_back(store: Store) -> None:
    _new(store)
    assert store.get("u1").attempts == 1  # type: ignore[union-attr]
    assert store.begin_attempt("u1", now=NOW).attempts == 2
    store.forget_attempt("u1")
    assert store.get("u1").attempts == 1  # type: ignore[union-attr]
    store.advance("u1", UploadState.ABANDONED, now=NOW)
    with pytest.raises(UploadTakenOver):
        store.begin_attempt("u1", now=NOW)


def test_unfinished_uploads_are_resumed_by_their_own_channel(store: Store) -> None:
    _new(store)
    store.create_upload(
        upload_id="door1",
        customer_id="acme",
        original_name="upload_08022027211200.csv",
        claim_name=".claim.door1",
        size=1,
        uploaded_at=None,
        now=NOW,
        state=UploadState.CLAIMED,
        channel=Channel.EMAIL,
        sender="ops@acme.example",
    )
    assert [u.id for u in store.unfinished("acme")] == ["u1"]
    assert [u.id for u in store.unfinished("acme", channels=(Channel.EMAIL,))] == ["door1"]
    door = store.get("door1")
    assert door is not None
    assert (door.channel, door.state, door.sender) == (
        Channel.EMAIL,
        UploadState.CLAIMED,
        "ops@acme.example",
    )


def test_a_move_another_process_made_first_is_a_take_over(store: Store) -> None:
    _new(store)
    store.advance("u1", UploadState.CLAIMED, now=NOW)
    with pytest.raises(UploadTakenOver):
        store.advance("u1", UploadState.CLAIMED, now=NOW)
