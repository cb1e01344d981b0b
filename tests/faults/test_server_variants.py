"""SFTP servers set up otherwise than our test sshd (SPEC 3, 7).

A real sshd with SFTP requests denied stands in for servers that lack OpenSSH's
extensions: the claim and the archive use plain SFTPv3 renames onto names known to be
free, so nothing changes for the customer. Another takes passwords only.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable

import paramiko
import pytest

from sftp_watcher.service import Service
from tests.faults.conftest import Fleet, FleetAccount
from tests.servers.password_login import PasswordLogin
from tests.servers.sshd import SshdServer

pytestmark = pytest.mark.sshd

# internal-sftp -P: these requests are refused, as on a server that never had them.
WITHOUT_EXTENSIONS = (
    "Subsystem sftp internal-sftp -P posix-rename,hardlink,copy-data,expand-path",
)


def test_a_server_without_posix_rename_archives_beside_an_existing_name(
    fleet: Fleet, make_sshd: Callable[..., SshdServer]
) -> None:
    server = make_sshd(WITHOUT_EXTENSIONS)
    account = fleet.add(server)
    first, _ = account.drop(rows=2)
    with Service(fleet.settings()) as service:
        service.poll_once()
        # The customer uploads a list under the same name again: the archive keeps both.
        name_again = first
        (account.account.upload / name_again).write_text("tel1\n919800000077\n")
        service.poll_once()
    listing = account.listing()
    assert listing["Upload"] == []
    assert len(listing["Success"]) == 2 and first in listing["Success"]
    assert len(fleet.phonon.accepted_calls) == 3
    assert len(fleet.smtp.messages) == 2


def test_the_variant_server_really_refuses_posix_rename(
    make_sshd: Callable[..., SshdServer],
) -> None:
    """The test above proves something only if the server refuses the extension."""
    server = make_sshd(WITHOUT_EXTENSIONS)
    upload = server.add_account("probe") / "Upload"
    (upload / "a").write_text("a")
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # our own loopback server
    client.connect(
        "127.0.0.1",
        port=server.port,
        username=getpass.getuser(),
        key_filename=str(server.client_key_path),
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
    )
    try:
        sftp = client.open_sftp()
        with pytest.raises(OSError):
            sftp.posix_rename(f"{upload}/a", f"{upload}/b")
        sftp.rename(f"{upload}/a", f"{upload}/b")  # plain SFTPv3 works
    finally:
        client.close()
    assert (upload / "b").exists()


def test_password_login_runs_the_whole_pipeline(
    fleet: Fleet, password_login: PasswordLogin
) -> None:
    account = _password_account(fleet, password_login, password_login.password)
    name, numbers = account.drop(rows=2)
    with Service(fleet.settings()) as service:
        service.poll_once()
    assert account.listing()["Success"] == [name]
    assert sorted(c["contact-numbers"][0] for c in fleet.phonon.accepted_calls) == sorted(numbers)


def test_a_wrong_password_makes_the_account_unreachable_not_the_files_lost(
    fleet: Fleet, password_login: PasswordLogin
) -> None:
    account = _password_account(fleet, password_login, "not-" + password_login.password)
    name, _ = account.drop()
    with Service(fleet.settings()) as service:
        (sweep,) = service.poll_once().sweeps
    assert sweep.error is not None and "tried password" in sweep.error, sweep.error
    assert password_login.password not in sweep.error
    assert account.listing()["Upload"] == [name], "the file waits for a working login"


def _password_account(fleet: Fleet, login: PasswordLogin, password: str) -> FleetAccount:
    account = fleet.add(login.server, username=login.username, password=password, private_key=None)
    login.own(account.account.dir)
    return account
