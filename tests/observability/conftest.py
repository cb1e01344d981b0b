"""Leave logging, structlog, the secret registry and Sentry as each test found them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog

from sftp_watcher.observability.logs import forget_secrets
from sftp_watcher.observability.sentry import close_sentry


@pytest.fixture(autouse=True)
def _restore_observability() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    forget_secrets()
    close_sentry()
