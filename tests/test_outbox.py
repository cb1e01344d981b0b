"""The outbox: sweeps hand over their emails at once, a flush sends what is still due;
kept connections, each attempt recorded, no email sent twice by two senders."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sftp_watcher.notify import SmtpSender, render
from sftp_watcher.outbox import Outbox
from sftp_watcher.state.store import QueuedEmail, Store
from tests.notify.notices import SENDER, success_notice
from tests.servers.smtp import SmtpTestServer, count_connections

NOW = datetime(2026, 2, 8, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)


def _queue(store: Store, *upload_ids: str) -> None:
    for n, upload_id in enumerate(upload_ids):
        store.enqueue_email(upload_id, _email(upload_id), now=NOW + timedelta(seconds=n))


def _open(url: str) -> Iterator[Store]:
    s = Store.open(url)
    yield s
    s.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from _open(f"sqlite:///{tmp_path / 'state.db'}")


@pytest.fixture
def outbox(store: Store, smtp_server: SmtpTestServer) -> Iterator[Outbox]:
    box = Outbox(store, SmtpSender(smtp_server.config()), lambda: LATER)
    yield box
    box.close()


def _ids(smtp_server: SmtpTestServer) -> list[str]:
    return [str(m.message["Message-ID"]) for m in smtp_server.messages]


def test_a_flush_sends_every_due_email_over_one_connection_oldest_first(
    store: Store, outbox: Outbox, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _queue(store, "U0", "U1", "U2")
    opened = count_connections(monkeypatch)

    assert outbox.flush() == (3, 0)
    assert len(opened) == 1
    assert _ids(smtp_server) == ["<U0@example.com>", "<U1@example.com>", "<U2@example.com>"]
    assert store.pending_email_count() == 0
    assert all(store.email_for(f"U{n}").attempts == 1 for n in range(3))
    assert outbox.flush() == (0, 0)  # recorded as sent: never again


def test_a_mail_server_that_is_down_delays_the_emails_and_records_the_attempt(
    store: Store, outbox: Outbox, smtp_server: SmtpTestServer
) -> None:
    _queue(store, "U0", "U1", "U2")
    smtp_server.stop()

    assert outbox.flush() == (0, 1)
    first = store.email_for("U0")
    assert first.attempts == 1 and first.next_attempt_at > LATER
    assert "cannot connect" in (first.last_error or "")
    assert store.pending_email_count() == 3

    smtp_server.start()
    outbox.clock = lambda: LATER + timedelta(hours=1)
    assert outbox.flush() == (3, 0)
    assert store.pending_email_count() == 0


def _email(upload_id: str) -> QueuedEmail:
    message = render(success_notice(upload_id=upload_id), sender=SENDER)
    return QueuedEmail(str(message["Message-ID"]), ("ops@acme.example",), bytes(message))


def _hand_over(store: Store, outbox: Outbox, upload_id: str) -> bool | None:
    """As a sweep does it: reserve the email, queue it (with the upload's last step), send."""
    email = _email(upload_id)
    with outbox.handing_over(upload_id) as send:
        store.enqueue_email(upload_id, email, now=NOW)
        return send(email)


def test_a_handed_over_email_goes_out_at_once_over_a_kept_connection(
    store: Store, outbox: Outbox, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = count_connections(monkeypatch)

    assert _hand_over(store, outbox, "U1") is True
    assert _hand_over(store, outbox, "U0") is True
    assert _ids(smtp_server) == ["<U1@example.com>", "<U0@example.com>"]
    assert len(opened) == 1  # the second email went over the first one's connection
    assert store.email_for("U1").status == "sent"
    assert store.email_for("U1").attempts == 1
    assert outbox.flush() == (0, 0)  # recorded as sent: never again


def test_a_handed_over_email_is_left_to_the_outbox_while_the_mail_server_is_down(
    store: Store, outbox: Outbox, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.stop()
    assert _hand_over(store, outbox, "U0") is False  # found out here: recorded, retried later
    assert store.email_for("U0").attempts == 1
    opened = count_connections(monkeypatch)

    # Known to be down: the next sweep's email is not tried (no connect timeout per file).
    assert _hand_over(store, outbox, "U1") is None
    assert opened == []
    assert store.email_for("U1").attempts == 0

    smtp_server.start()
    outbox.clock = lambda: LATER + timedelta(hours=1)
    assert outbox.flush() == (2, 0)
    assert _hand_over(store, outbox, "U2") is True  # the flush found the server back


def test_an_email_being_handed_over_is_not_taken_by_a_flush(
    store: Store, outbox: Outbox, smtp_server: SmtpTestServer
) -> None:
    with outbox.handing_over("U0") as send:  # a sweep between queueing and sending
        _queue(store, "U0", "U1")
        assert outbox.flush() == (1, 0)  # U1 only
        assert send(_email("U0")) is True
    assert _ids(smtp_server) == ["<U1@example.com>", "<U0@example.com>"]
    # And an email a flush is sending is not handed over again.
    _queue(store, "U2")
    with outbox._claim() as held:
        assert held is not None and held.upload_id == "U2"
        with outbox.handing_over("U2") as send:
            assert send(_email("U2")) is None


def _race(store: Store, senders: list[Outbox], upload_ids: list[str]) -> None:
    """Each sender's threads hand over their share of the emails while the others flush,
    over and over, until every email has been handed over."""
    start = threading.Barrier(len(senders) * 2)
    done = threading.Event()
    shares = [upload_ids[i :: len(senders)] for i in range(len(senders))]

    def handing_over(outbox: Outbox, mine: list[str]) -> None:
        start.wait()
        for upload_id in mine:
            _hand_over(store, outbox, upload_id)

    def flushing(outbox: Outbox) -> None:
        start.wait()
        while not done.is_set():
            outbox.flush()

    sweeps = [
        threading.Thread(target=handing_over, args=(outbox, mine))
        for outbox, mine in zip(senders, shares, strict=True)
    ]
    flushes = [threading.Thread(target=flushing, args=(outbox,)) for outbox in senders]
    for thread in sweeps + flushes:
        thread.start()
    for thread in sweeps:
        thread.join(timeout=60)
    done.set()
    for thread in flushes:
        thread.join(timeout=60)


def test_threads_handing_over_and_flushing_at_once_send_each_email_once(
    store: Store, smtp_server: SmtpTestServer
) -> None:
    upload_ids = [f"U{n}" for n in range(30)]
    outbox = Outbox(store, SmtpSender(smtp_server.config()), lambda: LATER)
    try:
        _race(store, [outbox, outbox, outbox], upload_ids)
    finally:
        outbox.close()

    assert Counter(_ids(smtp_server)) == {f"<{u}@example.com>": 1 for u in upload_ids}
    assert store.pending_email_count() == 0


def test_replicas_handing_over_and_flushing_at_once_send_each_email_once(
    pg_url: str, smtp_server: SmtpTestServer
) -> None:
    upload_ids = [f"U{n}" for n in range(30)]
    stores = [Store.open(pg_url), Store.open(pg_url)]  # two replicas, one database
    outboxes = [Outbox(s, SmtpSender(smtp_server.config()), lambda: LATER) for s in stores]
    try:
        # Each replica hands over its own uploads' emails and flushes the outbox they share.
        _race(stores[0], outboxes, upload_ids)
        assert stores[1].pending_email_count() == 0
    finally:
        for outbox, s in zip(outboxes, stores, strict=True):
            outbox.close()
            s.close()

    assert Counter(_ids(smtp_server)) == {f"<{u}@example.com>": 1 for u in upload_ids}


def test_a_flush_limited_to_some_customers_leaves_the_others_emails(
    store: Store, smtp_server: SmtpTestServer
) -> None:
    # A sweep process on SQLite flushes only its own accounts' emails (sftp_watcher.processes).
    for upload_id, customer in (("U0", "acme"), ("U1", "globex"), ("U2", "acme")):
        store.create_upload(
            upload_id=upload_id,
            customer_id=customer,
            original_name=f"{upload_id}.csv",
            claim_name=f".{upload_id}.claimed",
            size=1,
            uploaded_at=None,
            now=NOW,
        )
    _queue(store, "U0", "U1", "U2")
    box = Outbox(store, SmtpSender(smtp_server.config()), lambda: LATER, customers={"acme"})
    try:
        assert box.flush() == (2, 0)
    finally:
        box.close()
    assert _ids(smtp_server) == ["<U0@example.com>", "<U2@example.com>"]
    assert store.email_for("U1").attempts == 0
