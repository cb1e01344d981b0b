"""The outbox reports the age of its oldest pending email, for the dashboard and alerts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sftp_watcher.notify import SmtpSender, render
from sftp_watcher.observability import metrics
from sftp_watcher.outbox import Outbox
from sftp_watcher.state.store import QueuedEmail, Store
from tests.notify.notices import SENDER, success_notice
from tests.servers.smtp import SmtpTestServer

QUEUED = datetime(2026, 2, 8, 10, 0, tzinfo=UTC)


def oldest_age() -> float | None:
    return metrics.REGISTRY.get_sample_value("sftp_watcher_email_oldest_pending_age_seconds")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def test_oldest_pending_email_age_follows_the_outbox(
    store: Store, smtp_server: SmtpTestServer
) -> None:
    for n, upload_id in enumerate(["A0", "A1"]):
        message = render(success_notice(upload_id=upload_id), sender=SENDER)
        email = QueuedEmail(str(message["Message-ID"]), ("ops@acme.example",), bytes(message))
        store.enqueue_email(upload_id, email, now=QUEUED + timedelta(minutes=n))
    outbox = Outbox(store, SmtpSender(smtp_server.config()), lambda: QUEUED + timedelta(hours=1))
    smtp_server.stop()
    try:
        outbox.flush()
        assert oldest_age() == 3600.0  # the first email, queued an hour ago

        smtp_server.start()
        outbox.clock = lambda: QUEUED + timedelta(hours=2)
        assert outbox.flush() == (2, 0)
        assert oldest_age() == 0.0
    finally:
        outbox.close()
