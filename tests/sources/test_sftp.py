"""SftpSource against a real OpenSSH sshd on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import paramiko
import pytest

from sftp_watcher.config import SftpSourceConfig
from sftp_watcher.errors import (
    AuthenticationFailed,
    ConnectFailed,
    FileRejected,
    HostKeyMismatch,
    RemoteFileNotFound,
    RemoteOperationFailed,
    SourceUnavailable,
    UnknownHostKey,
)
from sftp_watcher.sources.base import Folder
from sftp_watcher.sources.hostkeys import fingerprint
from sftp_watcher.sources.names import free_name
from sftp_watcher.sources.sftp import SessionLimiter, SftpSource
from tests.servers.black_hole import black_hole_port
from tests.servers.sshd import SftpAccount, SshdServer

pytestmark = pytest.mark.sshd


def keygen(path: Path, kind: str, *extra: str) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-C", "", "-f", str(path), *extra],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def authorize(sshd: SshdServer, public_line: str) -> None:
    with sshd.authorized_keys.open("a") as keys:
        keys.write(public_line + "\n")


def source(account: SftpAccount, **overrides: object) -> SftpSource:
    return SftpSource("acme", configured(account, **overrides), limiter=SessionLimiter())


def configured(account: SftpAccount, **overrides: object) -> SftpSourceConfig:
    return SftpSourceConfig.model_validate({**account.config.model_dump(), **overrides})


# --- connecting ---------------------------------------------------------------------


def test_connects_with_pinned_host_key_and_key_login(sftp_account: SftpAccount) -> None:
    (sftp_account.upload / "C1_a.csv").write_text("tel1\n")
    with source(sftp_account) as src:
        assert src.connected
        assert [e.name for e in src.list(Folder.UPLOAD)] == ["C1_a.csv"]
    assert not src.connected


def test_connects_when_host_key_is_in_known_hosts(
    sshd: SshdServer, sftp_account: SftpAccount, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {sshd.host_key_line}\n")
    with source(sftp_account, host_key=None, known_hosts=known_hosts) as src:
        assert src.list(Folder.UPLOAD) == []


def test_unknown_host_key_is_refused_and_names_the_key_to_pin(
    sshd: SshdServer, sftp_account: SftpAccount
) -> None:
    src = source(sftp_account, host_key=None)
    with pytest.raises(UnknownHostKey) as caught:
        src.open()
    assert caught.value.key_line == sshd.host_key_line
    assert fingerprint(sshd.host_key_line) in str(caught.value)
    assert not src.connected


def test_host_key_other_than_known_hosts_entry_is_refused(
    sshd: SshdServer, sftp_account: SftpAccount, tmp_path: Path
) -> None:
    other = keygen(tmp_path / "other", "ed25519", "-N", "")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {other}\n")
    with pytest.raises(HostKeyMismatch):
        source(sftp_account, host_key=None, known_hosts=known_hosts).open()


def test_changed_pinned_host_key_is_refused_as_possible_attack(
    sshd: SshdServer, sftp_account: SftpAccount, tmp_path: Path
) -> None:
    pinned = keygen(tmp_path / "old_server_key", "ed25519", "-N", "")
    with pytest.raises(HostKeyMismatch) as caught:
        source(sftp_account, host_key=pinned).open()
    message = str(caught.value)
    assert "attack" in message
    assert fingerprint(pinned) in message
    assert fingerprint(sshd.host_key_line) in message


def test_unauthorised_private_key_fails_authentication(
    sftp_account: SftpAccount, tmp_path: Path
) -> None:
    keygen(tmp_path / "stranger", "ed25519", "-N", "")
    with pytest.raises(AuthenticationFailed) as caught:
        source(sftp_account, private_key=tmp_path / "stranger").open()
    assert caught.value.customer == "acme"


def test_missing_private_key_file_fails_authentication(
    sftp_account: SftpAccount, tmp_path: Path
) -> None:
    with pytest.raises(AuthenticationFailed, match="cannot read private key"):
        source(sftp_account, private_key=tmp_path / "nope").open()


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("ecdsa", ()), ("rsa", ("-b", "2048")), ("rsa", ("-b", "2048", "-m", "PEM"))],
    ids=["ecdsa", "rsa-openssh-format", "rsa-pem-format"],
)
def test_logs_in_with_ecdsa_and_rsa_keys(
    sshd: SshdServer, sftp_account: SftpAccount, tmp_path: Path, kind: str, extra: tuple[str, ...]
) -> None:
    authorize(sshd, keygen(tmp_path / "client", kind, "-N", "", *extra))
    with source(sftp_account, private_key=tmp_path / "client") as src:
        assert src.list(Folder.SUCCESS) == []


def test_encrypted_private_key_needs_its_passphrase_which_never_shows(
    sshd: SshdServer, sftp_account: SftpAccount, tmp_path: Path
) -> None:
    passphrase = "correct-horse-battery-staple"
    authorize(sshd, keygen(tmp_path / "locked", "ed25519", "-N", passphrase))
    with source(
        sftp_account, private_key=tmp_path / "locked", private_key_passphrase=passphrase
    ) as src:
        assert src.list(Folder.UPLOAD) == []
        assert passphrase not in repr(src)
    with pytest.raises(AuthenticationFailed, match="encrypted") as missing:
        source(sftp_account, private_key=tmp_path / "locked").open()
    with pytest.raises(AuthenticationFailed) as wrong:
        source(
            sftp_account, private_key=tmp_path / "locked", private_key_passphrase="wrong-words"
        ).open()
    assert "wrong-words" not in str(wrong.value)
    assert passphrase not in str(missing.value)


def test_passphrase_given_for_unencrypted_key_is_harmless(sftp_account: SftpAccount) -> None:
    with source(sftp_account, private_key_passphrase="unused") as src:
        assert src.list(Folder.UPLOAD) == []


def test_repr_shows_customer_and_server_but_no_secret(sftp_account: SftpAccount) -> None:
    src = source(sftp_account, password="hunter2-password", private_key_passphrase="s3cret-pp")
    text = repr(src)
    assert "acme" in text
    assert "127.0.0.1" in text
    assert "hunter2-password" not in text
    assert "s3cret-pp" not in text


def test_open_reuses_a_healthy_connection(sshd: SshdServer, sftp_account: SftpAccount) -> None:
    src = source(sftp_account)
    before = sshd.accepted_logins()
    try:
        src.open()
        src.open()
        src.list(Folder.UPLOAD)
        src.open()
    finally:
        src.close()
    assert sshd.accepted_logins() == before + 1


def test_reconnects_on_next_open_after_the_server_restarts(
    sshd: SshdServer, sftp_account: SftpAccount
) -> None:
    (sftp_account.upload / "C1_a.csv").write_text("tel1\n")
    src = source(sftp_account)
    src.open()
    try:
        assert len(src.list(Folder.UPLOAD)) == 1
        sshd.kill()
        sshd.start()
        with pytest.raises(SourceUnavailable):
            src.list(Folder.UPLOAD)
        assert not src.connected
        src.open()
        assert [e.name for e in src.list(Folder.UPLOAD)] == ["C1_a.csv"]
    finally:
        src.close()
        if not sshd.running:
            sshd.start()


def test_a_server_that_stops_answering_times_out_and_the_next_open_reconnects(
    sshd: SshdServer, sftp_account: SftpAccount
) -> None:
    src = source(sftp_account, operation_timeout_seconds=0.5)
    src.open()
    try:
        sshd.freeze()
        try:
            with pytest.raises(SourceUnavailable, match="lost"):
                src.list(Folder.UPLOAD)
            assert not src.connected
        finally:
            sshd.thaw()
        src.open()
        assert src.list(Folder.UPLOAD) == []
    finally:
        src.close()


def test_a_connection_nobody_answers_times_out_as_configured(sftp_account: SftpAccount) -> None:
    with black_hole_port() as port:
        src = source(sftp_account, port=port, connect_timeout_seconds=0.5)
        with pytest.raises(ConnectFailed) as caught:
            src.open()
    assert caught.value.reason == "timeout"
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert not src.connected


def test_session_cap_per_host_blocks_extra_sessions_until_one_closes(
    sftp_account: SftpAccount,
) -> None:
    limiter = SessionLimiter()
    config = configured(sftp_account, max_sessions_per_host=1, connect_timeout_seconds=0.2)
    first = SftpSource("acme", config, limiter=limiter)
    second = SftpSource("other", config, limiter=limiter)
    first.open()
    try:
        with pytest.raises(SourceUnavailable, match="max_sessions_per_host"):
            second.open()
    finally:
        first.close()
    with second:
        assert second.list(Folder.UPLOAD) == []


def test_failed_connection_gives_its_session_slot_back(
    sshd: SshdServer, sftp_account: SftpAccount, tmp_path: Path
) -> None:
    limiter = SessionLimiter()
    config = configured(sftp_account, max_sessions_per_host=1, connect_timeout_seconds=2)
    bad = configured(sftp_account, max_sessions_per_host=1, host_key=None)
    with pytest.raises(UnknownHostKey):
        SftpSource("acme", bad, limiter=limiter).open()
    with SftpSource("acme", config, limiter=limiter) as src:
        assert src.connected


# --- operations ---------------------------------------------------------------------


def test_list_reports_kind_size_and_mtime(sftp_account: SftpAccount) -> None:
    upload = sftp_account.upload
    (upload / "C1_a.csv").write_bytes(b"tel1\n918000000000\n")
    os.utime(upload / "C1_a.csv", (1_700_000_000, 1_700_000_000))
    (upload / "sub").mkdir()
    (upload / "link.csv").symlink_to(upload / "C1_a.csv")
    (upload / ".hidden").write_text("x")
    with source(sftp_account) as src:
        entries = {e.name: e for e in src.list(Folder.UPLOAD)}
    assert set(entries) == {"C1_a.csv", "sub", "link.csv", ".hidden"}
    assert entries["C1_a.csv"].kind == "file"
    assert entries["C1_a.csv"].size == 18
    assert entries["C1_a.csv"].mtime == 1_700_000_000
    assert entries["sub"].kind == "dir"
    assert entries["link.csv"].kind == "link"


def test_stat_and_exists(sftp_account: SftpAccount) -> None:
    (sftp_account.failure / "x.csv").write_bytes(b"abc")
    with source(sftp_account) as src:
        entry = src.stat(Folder.FAILURE, "x.csv")
        assert (entry.name, entry.size, entry.kind) == ("x.csv", 3, "file")
        assert src.exists(Folder.FAILURE, "x.csv")
        assert not src.exists(Folder.FAILURE, "y.csv")


def test_missing_file_raises_remote_file_not_found_with_customer_and_path(
    sftp_account: SftpAccount,
) -> None:
    with source(sftp_account) as src:
        for call in (
            lambda: src.stat(Folder.UPLOAD, "gone.csv"),
            lambda: src.read(Folder.UPLOAD, "gone.csv", 100),
            lambda: src.remove(Folder.UPLOAD, "gone.csv"),
            lambda: src.rename(Folder.UPLOAD, "gone.csv", Folder.SUCCESS, "gone.csv"),
        ):
            with pytest.raises(RemoteFileNotFound) as caught:
                call()
            assert caught.value.customer == "acme"
            assert caught.value.path is not None and "gone.csv" in caught.value.path
        assert src.connected  # an error answer does not cost the connection


def test_listing_a_missing_folder_raises_remote_file_not_found(sftp_account: SftpAccount) -> None:
    src = source(sftp_account, upload_dir=str(sftp_account.dir / "NoSuchDir"))
    with src, pytest.raises(RemoteFileNotFound):
        src.list(Folder.UPLOAD)


def test_relative_folders_are_resolved_against_the_login_directory(
    sftp_account: SftpAccount,
) -> None:
    home = Path(os.path.expanduser("~"))
    relative = os.path.relpath(sftp_account.upload, home)
    (sftp_account.upload / "C1_rel.csv").write_text("tel1\n")
    with source(sftp_account, upload_dir=relative) as src:
        assert [e.name for e in src.list(Folder.UPLOAD)] == ["C1_rel.csv"]


def test_read_returns_bytes_up_to_and_at_the_limit(sftp_account: SftpAccount) -> None:
    payload = os.urandom(300_000)  # several SFTP read requests, so prefetch is exercised
    (sftp_account.upload / "C1_a.csv").write_bytes(payload)
    with source(sftp_account) as src:
        assert src.read(Folder.UPLOAD, "C1_a.csv", len(payload)) == payload
        assert src.read(Folder.UPLOAD, "C1_a.csv", len(payload) + 1) == payload


@pytest.mark.parametrize(
    ("listed", "actual"),
    [(5, 300_000), (20_000, 0), (20_000, 7), (None, 7)],
    ids=["grew-past-one-request", "emptied", "shrank", "no-hint"],
)
def test_read_takes_the_listed_size_as_a_hint_only(
    sftp_account: SftpAccount, listed: int | None, actual: int
) -> None:
    payload = os.urandom(actual)
    (sftp_account.upload / "C1_a.csv").write_bytes(payload)
    with source(sftp_account) as src:
        assert src.read(Folder.UPLOAD, "C1_a.csv", 1 << 20, size=listed) == payload


NAMES = ["C1_a.csv", ".sftp-watcher-claim." + "0" * 32 + ".C1_a.csv.inprogress"]


@pytest.mark.parametrize("name", NAMES)
def test_a_symbolic_link_is_never_read_through(sftp_account: SftpAccount, name: str) -> None:
    outside = sftp_account.dir.parent / f"{sftp_account.name}-secrets.txt"
    outside.write_text("password=hunter2\n")
    (sftp_account.upload / name).symlink_to(outside)
    with source(sftp_account) as src:
        with pytest.raises(FileRejected, match="is a symbolic link, not a regular file") as caught:
            src.read(Folder.UPLOAD, name, 1 << 20)
        assert "hunter2" not in str(caught.value)
        assert src.stat(Folder.UPLOAD, name).kind == "link"
        assert src.connected


@pytest.mark.parametrize("name", NAMES)
def test_a_fifo_or_folder_is_refused_without_being_opened(
    sftp_account: SftpAccount, name: str
) -> None:
    os.mkfifo(sftp_account.upload / name)
    (sftp_account.upload / f"{name}.d").mkdir()
    with source(sftp_account) as src:
        with pytest.raises(FileRejected, match="is a FIFO"):
            src.read(Folder.UPLOAD, name, 1 << 20)
        with pytest.raises(FileRejected, match="is a folder, not a regular file"):
            src.read(Folder.UPLOAD, f"{name}.d", 1 << 20)
        assert src.connected, "the server was not left waiting on the FIFO"


def test_a_file_swapped_after_the_check_is_refused_on_the_open_handle(
    sftp_account: SftpAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    (sftp_account.upload / "C1_b.csv").write_text("tel1\n")
    outside = sftp_account.dir.parent / f"{sftp_account.name}-other.txt"
    outside.write_text("password=hunter2\n")
    (sftp_account.upload / "C1_a.csv").symlink_to(outside)
    with source(sftp_account) as src:
        looks_regular = src._lstat(src._sftp, f"{sftp_account.config.upload_dir}/C1_b.csv")  # type: ignore[arg-type]
        # The name is swapped for a link between the check and the open: the check saw a file.
        monkeypatch.setattr(SftpSource, "_lstat", staticmethod(lambda _sftp, _path: looks_regular))
        with pytest.raises(FileRejected, match="replaced while it was being opened"):
            src.read(Folder.UPLOAD, "C1_a.csv", 1 << 20)


def test_read_refuses_an_oversized_file_without_reading_it(
    sftp_account: SftpAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = sftp_account.upload / "C1_big.csv"
    with big.open("wb") as handle:
        handle.truncate(1 << 30)  # sparse: 1 GiB that nobody should read
    reads: list[object] = []
    original = paramiko.SFTPFile.read

    def spy(self: paramiko.SFTPFile, *args: Any) -> bytes:
        reads.append(args)
        return original(self, *args)

    monkeypatch.setattr(paramiko.SFTPFile, "read", spy)
    with source(sftp_account) as src:
        with pytest.raises(FileRejected, match="larger than") as caught:
            src.read(Folder.UPLOAD, "C1_big.csv", 5 * 1024 * 1024)
        assert caught.value.file == "C1_big.csv"
        assert reads == []
        assert src.connected


def test_write_creates_the_file_and_remove_deletes_it(sftp_account: SftpAccount) -> None:
    data = b"line,column,value,reason\n2,tel1,abc,not a number\n"
    with source(sftp_account) as src:
        src.write(Folder.SUCCESS, "C1_a.csv.errors.csv", data)
        assert (sftp_account.success / "C1_a.csv.errors.csv").read_bytes() == data
        src.remove(Folder.SUCCESS, "C1_a.csv.errors.csv")
    assert not (sftp_account.success / "C1_a.csv.errors.csv").exists()


def test_rename_moves_a_file_between_folders(sftp_account: SftpAccount) -> None:
    (sftp_account.upload / "C1_a.csv").write_text("tel1\n")
    with source(sftp_account) as src:
        src.rename(Folder.UPLOAD, "C1_a.csv", Folder.SUCCESS, "C1_a.csv")
    assert not (sftp_account.upload / "C1_a.csv").exists()
    assert (sftp_account.success / "C1_a.csv").read_text() == "tel1\n"


def test_openssh_refuses_a_rename_onto_an_existing_name_and_free_name_avoids_it(
    sftp_account: SftpAccount,
) -> None:
    """Documented OpenSSH behaviour; our free_name makes sure we never rely on it."""
    from datetime import UTC, datetime

    (sftp_account.upload / "C1_a.csv").write_text("new\n")
    (sftp_account.success / "C1_a.csv").write_text("old\n")
    with source(sftp_account) as src:
        with pytest.raises(RemoteOperationFailed):
            src.rename(Folder.UPLOAD, "C1_a.csv", Folder.SUCCESS, "C1_a.csv")
        assert src.connected
        target = free_name(
            src, Folder.SUCCESS, "C1_a.csv", datetime(2026, 2, 8, 15, 42, tzinfo=UTC)
        )
        assert target == "C1_a_20260208154200.csv"
        src.rename(Folder.UPLOAD, "C1_a.csv", Folder.SUCCESS, target)
    assert (sftp_account.success / "C1_a.csv").read_text() == "old\n"
    assert (sftp_account.success / target).read_text() == "new\n"


def test_operations_without_open_raise_source_unavailable(sftp_account: SftpAccount) -> None:
    with pytest.raises(SourceUnavailable, match="not connected"):
        source(sftp_account).list(Folder.UPLOAD)


def test_names_with_a_slash_are_refused(sftp_account: SftpAccount) -> None:
    with source(sftp_account) as src, pytest.raises(ValueError, match="plain file name"):
        src.stat(Folder.UPLOAD, "../etc/passwd")
