"""Fixtures for the source tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pytest_sftpserver.sftp.server import SFTPServer


@pytest.fixture(scope="session")
def sftpserver() -> Iterator[Any]:
    """pytest-sftpserver's in-process server, also closing its listening socket
    (the plugin's own fixture leaves it to the garbage collector: a ResourceWarning)."""
    server = SFTPServer()
    server.start()
    yield server
    server.shutdown()
    server.server_close()
    server.join(timeout=5)
