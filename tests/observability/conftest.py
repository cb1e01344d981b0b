"""Besides what tests/conftest.py restores: bound context and Sentry, as each test found them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from sftp_watcher.observability.sentry import close_sentry


@pytest.fixture(autouse=True)
def _restore_observability() -> Iterator[None]:
    yield
    structlog.contextvars.clear_contextvars()
    close_sentry()
