"""What the real servers do differently (SPEC 3), proven against each server, so that the
matrix tests (tests/e2e/test_server_matrix.py) guard against differences that exist:

- a plain SFTP rename onto an existing name: OpenSSH and ProFTPD refuse it (with
  different texts), rclone ``serve sftp`` silently replaces the target;
- an exclusive create (``SSH_FXF_EXCL``) of an existing name: rclone truncates it;
- ``posix-rename@openssh.com``: offered by all three, replacing the target;
- a missing file: "no such file" (ENOENT), the one reliable text; but ProFTPD checks a
  rename's target first, so a missing source onto a taken name is "File already exists".
"""

from __future__ import annotations

import errno
import posixpath
from collections.abc import Callable, Iterator

import paramiko
import pytest

from sftp_watcher.errors import RemoteFileNotFound
from sftp_watcher.sources.base import Folder
from sftp_watcher.sources.sftp import SessionLimiter, SftpSource, connect
from tests.faults.conftest import Fleet, RunProcess, wait_for
from tests.servers.proftpd import ProftpdSftp
from tests.servers.rclone import RcloneSftp
from tests.servers.sshd import SftpAccount, SshdServer

pytestmark = pytest.mark.sshd


@pytest.fixture
def client(server_account: SftpAccount) -> Iterator[paramiko.SFTPClient]:
    """The service's own connection steps: pinned host key, key login."""
    transport, sftp = connect(server_account.config, customer="probe")
    try:
        yield sftp
    finally:
        sftp.close()
        transport.close()


def _kind(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["server_account"])


def _remote(account: SftpAccount, name: str) -> str:
    return posixpath.join(str(account.config.upload_dir), name)


# What a plain rename onto an existing name does: the server's answer, or "replaced".
RENAME_ONTO_EXISTING = {
    "openssh": "Failure",
    "rclone": "replaced",
    "proftpd": "File already exists",
}


def test_a_rename_onto_an_existing_name_is_refused_or_replaces_it(
    request: pytest.FixtureRequest, server_account: SftpAccount, client: paramiko.SFTPClient
) -> None:
    upload = server_account.upload
    (upload / "first").write_text("first\n")
    (upload / "second").write_text("second\n")
    try:
        client.rename(_remote(server_account, "second"), _remote(server_account, "first"))
    except OSError as exc:
        outcome = str(exc.args[-1] if exc.args else exc)
        assert (upload / "first").read_text() == "first\n"
    else:
        outcome = "replaced"
        assert (upload / "first").read_text() == "second\n"
        assert not (upload / "second").exists()
    assert outcome == RENAME_ONTO_EXISTING[_kind(request)]


def test_an_exclusive_create_of_an_existing_name_is_refused_or_truncates_it(
    request: pytest.FixtureRequest, server_account: SftpAccount, client: paramiko.SFTPClient
) -> None:
    taken = server_account.upload / "taken"
    taken.write_text("the customer's bytes\n")
    try:
        client.open(_remote(server_account, "taken"), "wx").close()
    except OSError:
        refused = True
    else:
        refused = False
    assert refused == (_kind(request) != "rclone")
    expected = "" if _kind(request) == "rclone" else "the customer's bytes\n"
    assert taken.read_text() == expected


def test_posix_rename_is_offered_and_replaces_the_target(
    server_account: SftpAccount, client: paramiko.SFTPClient
) -> None:
    upload = server_account.upload
    (upload / "a").write_text("a\n")
    (upload / "b").write_text("b\n")
    client.posix_rename(_remote(server_account, "a"), _remote(server_account, "b"))
    assert sorted(p.name for p in upload.iterdir()) == ["b"]
    assert (upload / "b").read_text() == "a\n"


def test_a_missing_file_is_no_such_file_on_every_server(
    server_account: SftpAccount, client: paramiko.SFTPClient
) -> None:
    missing = _remote(server_account, "missing")
    with pytest.raises(OSError) as stat_error:
        client.lstat(missing)
    with pytest.raises(OSError) as rename_error:
        client.rename(missing, _remote(server_account, "elsewhere"))
    assert stat_error.value.errno == errno.ENOENT
    assert rename_error.value.errno == errno.ENOENT


def test_a_rename_from_a_missing_name_onto_a_taken_one_is_no_such_file(
    request: pytest.FixtureRequest, server_account: SftpAccount, client: paramiko.SFTPClient
) -> None:
    """A claim resumed after a kill renames a file already renamed onto its claim name:
    the source must answer "no such file" on every server (the claim step relies on it)."""
    (server_account.upload / "claimed").write_text("claimed\n")
    missing, taken = _remote(server_account, "gone"), _remote(server_account, "claimed")
    with pytest.raises(OSError) as raw:
        client.rename(missing, taken)
    assert (raw.value.errno == errno.ENOENT) == (_kind(request) != "proftpd")
    source = SftpSource("probe", server_account.config, limiter=SessionLimiter())
    source.open()
    try:
        with pytest.raises(RemoteFileNotFound):
            source.rename(Folder.UPLOAD, "gone", Folder.UPLOAD, "claimed")
    finally:
        source.close()
    assert (server_account.upload / "claimed").read_text() == "claimed\n"


def test_one_service_serves_customers_on_all_three_servers(
    fleet: Fleet,
    sshd: SshdServer,
    rclone_sftp: RcloneSftp,
    proftpd_sftp: ProftpdSftp,
    run_process: Callable[..., RunProcess],
) -> None:
    """`run` polls an account on each server; each file is called, archived, emailed once."""
    accounts = [fleet.add(server) for server in (sshd, rclone_sftp, proftpd_sftp)]
    dropped = {account.customer_id: account.drop(rows=2) for account in accounts}
    process = run_process(fleet.write_config())

    def done() -> bool:
        return all(a.listing()["Success"] == [dropped[a.customer_id][0]] for a in accounts) and (
            len(set(fleet.message_ids())) == len(accounts)
        )

    wait_for(done, 60, lambda: str([a.listing() for a in accounts]), check=process.check_alive)
    assert process.stop() == 0
    numbers = sorted(c["contact-numbers"][0] for c in fleet.phonon.accepted_calls)
    assert numbers == sorted(n for _, rows in dropped.values() for n in rows)
    assert all(a.listing()["Upload"] == [] for a in accounts)
