"""One account on each real SFTP server the suite runs against (fixture ``server_rig``).

Tests taking ``server_rig`` (or ``server_account``) run once per server: OpenSSH, rclone
``serve sftp`` and ProFTPD ``mod_sftp``, which differ where SPEC 3 says servers differ
(a rename onto an existing name, ``posix-rename``, error texts).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.phonon_stub import PhononStub
from tests.servers.proftpd import ProftpdSftp
from tests.servers.rclone import RcloneSftp
from tests.servers.rig import FLOW_ID, SECRET, Rig
from tests.servers.smtp import SmtpTestServer
from tests.servers.sshd import SftpAccount

SERVERS = ("openssh", "rclone", "proftpd")

_numbers = itertools.count(1)


def server_for(request: pytest.FixtureRequest, kind: str) -> RcloneSftp | ProftpdSftp:
    """The session's rclone or ProFTPD server."""
    server: RcloneSftp | ProftpdSftp = request.getfixturevalue(f"{kind}_sftp")
    return server


@pytest.fixture(params=SERVERS)
def server_account(request: pytest.FixtureRequest) -> SftpAccount:
    """A fresh account (its own Upload/Success/Failure) on each server in turn."""
    kind: str = request.param
    if kind == "openssh":
        account: SftpAccount = request.getfixturevalue("sftp_account")
        return account
    return server_for(request, kind).account(f"{kind}{next(_numbers)}")


@pytest.fixture
def server_rig(
    server_account: SftpAccount,
    phonon_stub: PhononStub,
    smtp_server: SmtpTestServer,
    tmp_path: Path,
) -> Iterator[Rig]:
    phonon_stub.register_flow(FLOW_ID, SECRET)
    yield Rig(server_account, phonon_stub, smtp_server, tmp_path)
