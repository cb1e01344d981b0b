"""Shared fixtures. Real servers live in tests/servers/, one module each, loaded as plugins."""

import logging
from collections.abc import Iterator

import pytest
import structlog

from sftp_watcher.observability.logs import forget_secrets

pytest_plugins = [
    "tests.servers.sshd",
    "tests.servers.phonon_stub",
    "tests.servers.smtp",
    "tests.servers.postgres",
    "tests.servers.rig",
    "tests.servers.password_login",
    "tests.servers.dovecot",
    "tests.servers.rclone",
    "tests.servers.proftpd",
    "tests.servers.matrix",
    "tests.mailbox.rig",
]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Commands configure logging onto the test's captured stderr; undo that afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    structlog.reset_defaults()
    forget_secrets()
