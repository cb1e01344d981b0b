"""The outbox: every due email of a flush over one mail-server connection, each attempt recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sftp_watcher.notify import SmtpSender, render
from sftp_watcher.outbox import Outbox
from sftp_watcher.state.store import Store
from tests.notify.notices import SENDER, success_notice
from tests.servers.smtp import SmtpTestServer, count_connections

NOW = datetime(2026, 2, 8, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    for n in range(3):
        message = render(success_notice(upload_id=f"U{n}"), sender=SENDER)
        s.enqueue_email(
            upload_id=f"U{n}",
            message_id=str(message["Message-ID"]),
            recipients=["ops@acme.example"],
            raw=bytes(message),
            now=NOW + timedelta(seconds=n),
        )
    yield s
    s.close()


def test_a_flush_sends_every_due_email_over_one_connection_oldest_first(
    store: Store, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = count_connections(monkeypatch)
    outbox = Outbox(store, SmtpSender(smtp_server.config()), lambda: NOW + timedelta(minutes=1))

    assert outbox.flush() == (3, 0)
    assert len(opened) == 1
    assert [str(m.message["Message-ID"]) for m in smtp_server.messages] == [
        "<U0@example.com>",
        "<U1@example.com>",
        "<U2@example.com>",
    ]
    assert store.pending_email_count() == 0
    assert all(store.email_for(f"U{n}").attempts == 1 for n in range(3))
    assert outbox.flush() == (0, 0)  # recorded as sent: never again


def test_a_mail_server_that_is_down_delays_the_emails_and_records_the_attempt(
    store: Store, smtp_server: SmtpTestServer
) -> None:
    smtp_server.stop()
    later = NOW + timedelta(minutes=1)
    outbox = Outbox(store, SmtpSender(smtp_server.config()), lambda: later)

    assert outbox.flush() == (0, 1)
    first = store.email_for("U0")
    assert first.attempts == 1 and first.next_attempt_at > later
    assert "cannot connect" in (first.last_error or "")
    assert store.pending_email_count() == 3

    smtp_server.start()
    outbox.clock = lambda: later + timedelta(hours=1)
    assert outbox.flush() == (3, 0)
    assert store.pending_email_count() == 0
