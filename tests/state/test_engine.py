"""The PostgreSQL engine replaces a pooled connection that died while it was idle."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from sftp_watcher.state import engine as engine_module
from sftp_watcher.state.engine import make_engine

pytestmark = pytest.mark.postgres


def _kill_pooled_connection(engine: Engine, pg_url: str) -> None:
    """Use the pool's one connection, give it back, and have the server end its session."""
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        connection.commit()
    admin = create_engine(pg_url, poolclass=NullPool)
    try:
        with admin.connect() as connection:
            # With a timeout, PostgreSQL (14+) answers once the backend is gone. (Polling
            # pg_stat_activity in one transaction sees one snapshot: it never went.)
            ended = text("SELECT pg_terminate_backend(:pid, 10000)")
            assert connection.execute(ended, {"pid": pid}).scalar_one(), "the backend did not end"
    finally:
        admin.dispose()


@pytest.mark.parametrize(
    ("ping_after_idle", "replaced"),
    [(0.0, True), (3600.0, False)],
    ids=["idle-pinged-and-replaced", "busy-not-pinged"],
)
def test_a_connection_dropped_while_idle_is_pinged_and_replaced_at_checkout(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, ping_after_idle: float, replaced: bool
) -> None:
    """Idle long enough: pinged, found dead, replaced. Back a moment ago: not pinged (no
    round trip for a busy pool), so a dead one fails its first statement instead."""
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", ping_after_idle)
    engine = make_engine(pg_url)
    try:
        _kill_pooled_connection(engine, pg_url)
        with engine.connect() as connection:
            if replaced:
                assert connection.execute(text("SELECT 1")).scalar_one() == 1
            else:
                with pytest.raises(OperationalError):
                    connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()
