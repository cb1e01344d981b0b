"""Sessions in the state database (SQLite and PostgreSQL), and nothing secret in the logs."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from sftp_watcher.state.store import Store
from sftp_watcher.web.sessions import COOKIE, Sessions

from .conftest import ACME_PASSWORD


@pytest.mark.postgres
def test_sessions_on_postgresql(pg_url):
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    store = Store.open(pg_url)
    try:
        sessions = Sessions(store, timedelta(hours=8), lambda: now[0])
        token = sessions.start("acme", "ops@acme.example")
        found = sessions.find(token)
        assert found is not None and found.customer_id == "acme"
        # Only the token's hash is stored: the table cannot sign anyone in.
        assert found.session_id == hashlib.sha256(token.encode()).hexdigest() != token
        assert sessions.find(token[:-1] + "x") is None
        sessions.end(found.session_id)
        assert sessions.find(token) is None
        other = sessions.start("acme", "ops@acme.example")
        now[0] += timedelta(hours=8, seconds=1)
        assert sessions.find(other) is None
    finally:
        store.close()


def test_no_password_or_session_token_in_the_logs(page):
    with capture_logs() as logs:
        answer = page.sign_in()
        page.client.get("/upload")
    token = answer.cookies[COOKIE]
    text = repr(logs)
    assert ACME_PASSWORD not in text and token not in text
    assert any(e["event"] == "web.signed_in" for e in logs)
