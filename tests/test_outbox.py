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
from sftp_watcher.state.store import Store
from tests.notify.notices import SENDER, success_notice
from tests.servers.smtp import SmtpTestServer, count_connections

NOW = datetime(2026, 2, 8, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)


def _queue(store: Store, *upload_ids: str) -> None:
    for n, upload_id in enumerate(upload_ids):
        message = render(success_notice(upload_id=upload_id), sender=SENDER)
        store.enqueue_email(
            upload_id=upload_id,
            message_id=str(message["Message-ID"]),
            recipients=["ops@acme.example"],
            raw=bytes(message),
            now=NOW + timedelta(seconds=n),
        )


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


def test_deliver_sends_a_queued_email_at_once_and_keeps_the_connection(
    store: Store, outbox: Outbox, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _queue(store, "U0", "U1")
    opened = count_connections(monkeypatch)

    assert outbox.deliver("U1") is True
    assert outbox.deliver("U0") is True
    assert _ids(smtp_server) == ["<U1@example.com>", "<U0@example.com>"]
    assert len(opened) == 1  # the second email went over the first one's connection
    assert store.email_for("U1").status == "sent"
    assert outbox.deliver("U1") is None  # sent already: not again
    assert outbox.flush() == (0, 0)


def test_deliver_leaves_the_email_to_the_outbox_while_the_mail_server_is_down(
    store: Store, outbox: Outbox, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _queue(store, "U0", "U1")
    smtp_server.stop()
    assert outbox.deliver("U0") is False  # found out here: recorded, retried later
    opened = count_connections(monkeypatch)

    # Known to be down: the next sweep's email is not tried (no connect timeout per file).
    assert outbox.deliver("U1") is None
    assert opened == []
    assert store.email_for("U1").attempts == 0

    smtp_server.start()
    outbox.clock = lambda: LATER + timedelta(hours=1)
    assert outbox.flush() == (2, 0)
    _queue(store, "U2")
    assert outbox.deliver("U2") is True  # the flush found the server back


def test_an_email_being_sent_is_not_taken_by_another_thread(
    store: Store, outbox: Outbox, smtp_server: SmtpTestServer
) -> None:
    _queue(store, "U0", "U1")
    with outbox._claim(upload_id="U0") as held:  # a sender in mid-send
        assert held is not None
        assert outbox.deliver("U0") is None
        assert outbox.flush() == (1, 0)  # U1 only
    assert _ids(smtp_server) == ["<U1@example.com>"]


def _race(senders: list[Outbox], upload_ids: list[str]) -> None:
    """Every sender delivers every email and flushes, all at once."""
    start = threading.Barrier(len(senders) * 2)

    def delivering(outbox: Outbox) -> None:
        start.wait()
        for upload_id in upload_ids:
            outbox.deliver(upload_id)

    def flushing(outbox: Outbox) -> None:
        start.wait()
        outbox.flush()

    threads = [
        threading.Thread(target=work, args=(outbox,))
        for outbox in senders
        for work in (delivering, flushing)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


def test_threads_delivering_and_flushing_at_once_send_each_email_once(
    store: Store, smtp_server: SmtpTestServer
) -> None:
    upload_ids = [f"U{n}" for n in range(30)]
    _queue(store, *upload_ids)
    outbox = Outbox(store, SmtpSender(smtp_server.config()), lambda: LATER)
    try:
        _race([outbox, outbox, outbox], upload_ids)
    finally:
        outbox.close()

    assert Counter(_ids(smtp_server)) == {f"<{u}@example.com>": 1 for u in upload_ids}
    assert store.pending_email_count() == 0


def test_replicas_delivering_and_flushing_at_once_send_each_email_once(
    pg_url: str, smtp_server: SmtpTestServer
) -> None:
    upload_ids = [f"U{n}" for n in range(30)]
    stores = [Store.open(pg_url), Store.open(pg_url)]  # two replicas, one database
    outboxes = [Outbox(s, SmtpSender(smtp_server.config()), lambda: LATER) for s in stores]
    try:
        _queue(stores[0], *upload_ids)
        _race(outboxes, upload_ids)
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
