"""PostgreSQL for tests: a throw-away database on the server named by SFTP_WATCHER_TEST_PG_URL.

CI sets the variable (and SFTP_WATCHER_REQUIRE_SERVICES=1), so there these tests run, not skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "SFTP_WATCHER_TEST_PG_URL"


def _require() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("SFTP_WATCHER_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{PG_ENV} is not set but services are required")
        pytest.skip(f"{PG_ENV} not set")
    return url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    base = make_url(_require())
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    name = f"sftpw_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
