"""setup-test against a real OpenSSH sshd: the misconfiguration matrix of an SFTP account."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from sftp_watcher.cli import main
from sftp_watcher.onboarding import run_setup_test
from sftp_watcher.sources.hostkeys import fingerprint
from sftp_watcher.state.store import Store
from tests.onboarding.helpers import (
    FLOW_ID,
    SECURITY_ID,
    SENDER,
    assert_no_probe_left,
    by_name,
    make_mapping,
    make_settings,
    output_of,
    statuses,
)
from tests.servers.black_hole import black_hole_port
from tests.servers.password_login import PasswordLogin
from tests.servers.phonon_stub import PhononStub
from tests.servers.smtp import SmtpTestServer
from tests.servers.sshd import SftpAccount, SshdServer

pytestmark = pytest.mark.sshd

FOLDER_CHECKS = ["folder Upload/", "folder Success/", "folder Failure/"]
PERMISSION_CHECKS = ["permissions Upload/", "permissions Success/", "permissions Failure/"]


def sftp_source(account: SftpAccount, **overrides: Any) -> dict[str, Any]:
    values = account.config.model_dump(mode="json", exclude_none=True)
    return {**values, "kind": "sftp", **overrides}


def keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def folders(account: SftpAccount) -> list[Path]:
    return [account.upload, account.success, account.failure]


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make ``folder`` refuse new entries, also for root (who ignores mode bits): chattr +i."""
    folder.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
        immutable = done.returncode == 0
    try:
        try:
            (folder / ".writable-test").touch()
        except OSError:
            pass
        else:
            (folder / ".writable-test").unlink()
            pytest.skip("cannot make a folder unwritable here (root without chattr +i)")
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)


@pytest.fixture
def flow(phonon_stub: PhononStub) -> PhononStub:
    phonon_stub.register_flow(FLOW_ID, SECURITY_ID)
    return phonon_stub


def test_a_well_configured_account_passes_every_check_and_records_the_profile(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, sftp_source(sftp_account), flow)

    report = run_setup_test(settings, "acme")

    assert report.ok, report.render_text()
    checks = by_name(report)
    assert all(c["status"] == "pass" for n, c in checks.items() if n != "test email"), checks
    assert checks["test email"]["status"] == "skip"
    assert fingerprint(sftp_account.config.host_key or "") in checks["host key"]["detail"]
    assert "302" in checks[f"flow {FLOW_ID}"]["detail"]
    assert "rename onto an existing name fails" in checks["server profile"]["detail"]
    store = Store.open(settings.state_url)
    try:
        profile = store.profile("acme")
    finally:
        store.close()
    assert profile is not None
    assert profile["posix_rename"] is True  # OpenSSH offers posix-rename@openssh.com
    assert profile["rename_onto_existing"] == "fails"  # OpenSSH renames with link()
    assert profile["mtime_precision"] == "seconds"  # SFTPv3 carries whole seconds
    assert abs(profile["clock_skew_seconds"]) <= 2  # same machine, same clock
    assert_no_probe_left(*folders(sftp_account))
    assert [p.name for p in sftp_account.upload.iterdir()] == []


def test_secrets_appear_nowhere_in_the_output_even_when_the_password_is_tried(
    sftp_account: SftpAccount, sshd: SshdServer, phonon_stub: PhononStub, tmp_path: Path
) -> None:
    """A rejected key makes the password be tried too; neither it nor the security id prints."""
    password = "Pa55-word-that-must-not-leak"
    keygen(tmp_path / "stranger")
    source = sftp_source(sftp_account, private_key=str(tmp_path / "stranger"), password=password)
    phonon_stub.register_flow(FLOW_ID, "another-security-id")
    settings = make_settings(tmp_path, source, phonon_stub)

    report = run_setup_test(settings, "acme")

    text = output_of(report)
    assert password not in text
    assert SECURITY_ID not in text
    assert statuses(report)["authentication"] == "fail"
    assert "password" in by_name(report)["authentication"]["detail"]
    assert statuses(report)[f"flow {FLOW_ID}"] == "fail"


def test_a_key_the_server_does_not_accept_is_diagnosed_with_our_public_key(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    public = keygen(tmp_path / "stranger")
    source = sftp_source(sftp_account, private_key=str(tmp_path / "stranger"))

    report = run_setup_test(make_settings(tmp_path, source, flow), "acme")

    assert not report.ok
    auth = by_name(report)["authentication"]
    assert auth["status"] == "fail"
    assert "refused user" in auth["detail"]
    assert "key" in auth["detail"]
    assert public in auth["fix"]
    for name in [*FOLDER_CHECKS, *PERMISSION_CHECKS, "sftp session", "server profile"]:
        assert statuses(report)[name] == "skip"
    assert statuses(report)[f"flow {FLOW_ID}"] == "pass"  # the rest still ran


def test_an_unreadable_key_file_is_named_with_its_errno(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-key"
    report = run_setup_test(
        make_settings(tmp_path, sftp_source(sftp_account, private_key=str(missing)), flow), "acme"
    )

    auth = by_name(report)["authentication"]
    assert auth["status"] == "fail"
    assert str(missing) in auth["detail"]
    assert "errno 2" in auth["detail"]
    assert "readable" in auth["fix"]


def test_an_encrypted_key_without_passphrase_asks_for_the_passphrase(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    key = tmp_path / "locked"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "sesame", "-C", "", "-f", str(key)],
        check=True,
    )
    report = run_setup_test(
        make_settings(tmp_path, sftp_source(sftp_account, private_key=str(key)), flow), "acme"
    )

    auth = by_name(report)["authentication"]
    assert auth["status"] == "fail"
    assert "private_key_passphrase" in auth["fix"]


def test_an_unknown_host_key_prints_the_line_to_pin_and_no_key_is_offered(
    sftp_account: SftpAccount, sshd: SshdServer, flow: PhononStub, tmp_path: Path
) -> None:
    """SPEC 10: no login at all; auth and folder checks skip with the fix; flows still run."""
    source = sftp_source(sftp_account)
    del source["host_key"]
    # A name no other test uses: sshd logs it ("Invalid user ...") at any attempt to log in.
    source["username"] = f"pin-check-{uuid.uuid4().hex[:12]}"

    report = run_setup_test(make_settings(tmp_path, source, flow), "acme")

    assert not report.ok
    host_key = by_name(report)["host key"]
    assert host_key["status"] == "fail"
    assert f'host_key: "{sshd.host_key_line}"' in host_key["fix"]
    assert fingerprint(sshd.host_key_line) in host_key["detail"]
    assert "no host key pinned yet" in by_name(report)["configuration"]["detail"]
    for name in ["authentication", "sftp session", *FOLDER_CHECKS, *PERMISSION_CHECKS]:
        assert statuses(report)[name] == "skip", name
        assert "pin the key line" in by_name(report)[name]["fix"], name
    assert statuses(report)[f"flow {FLOW_ID}"] == "pass"
    # The server saw no user name: no authentication request of any kind reached it.
    assert source["username"] not in sshd.log()


def test_a_password_is_never_sent_to_a_server_whose_key_is_not_pinned(
    sftp_account: SftpAccount, sshd: SshdServer, flow: PhononStub, tmp_path: Path
) -> None:
    source = sftp_source(sftp_account, password="hunter2-not-for-strangers")
    del source["host_key"]
    del source["private_key"]
    logins_before = sshd.accepted_logins()

    report = run_setup_test(make_settings(tmp_path, source, flow), "acme")

    assert statuses(report)["host key"] == "fail"
    auth = by_name(report)["authentication"]
    assert auth["status"] == "skip"
    assert "neither the password nor the key is sent" in auth["detail"]
    assert sshd.accepted_logins() == logins_before
    assert "hunter2" not in report.render_text()


def test_a_changed_host_key_is_a_loud_mismatch_and_no_login_is_attempted(
    sftp_account: SftpAccount, sshd: SshdServer, flow: PhononStub, tmp_path: Path
) -> None:
    other = keygen(tmp_path / "other-host")
    logins_before = sshd.accepted_logins()

    report = run_setup_test(
        make_settings(tmp_path, sftp_source(sftp_account, host_key=other), flow), "acme"
    )

    host_key = by_name(report)["host key"]
    assert host_key["status"] == "fail"
    assert "HOST KEY MISMATCH" in host_key["detail"]
    assert "man-in-the-middle" in host_key["detail"]
    assert fingerprint(other) in host_key["detail"]
    assert fingerprint(sshd.host_key_line) in host_key["detail"]
    assert "out of band" in host_key["fix"]
    assert statuses(report)["authentication"] == "skip"
    assert "MISMATCH" in by_name(report)["authentication"]["detail"]
    assert all(statuses(report)[n] == "skip" for n in FOLDER_CHECKS + PERMISSION_CHECKS)
    assert sshd.accepted_logins() == logins_before


def test_a_missing_folder_fails_and_says_to_create_it_or_use_create_folders(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    sftp_account.success.rmdir()

    report = run_setup_test(make_settings(tmp_path, sftp_source(sftp_account), flow), "acme")

    assert not report.ok
    folder = by_name(report)["folder Success/"]
    assert folder["status"] == "fail"
    assert "does not exist" in folder["detail"]
    assert "--create-folders" in folder["fix"]
    assert statuses(report)["permissions Success/"] == "skip"
    assert statuses(report)["permissions Upload/"] == "pass"
    assert not sftp_account.success.exists()


def test_create_folders_creates_the_missing_folder(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    sftp_account.success.rmdir()

    report = run_setup_test(
        make_settings(tmp_path, sftp_source(sftp_account), flow), "acme", create_folders=True
    )

    assert report.ok, report.render_text()
    assert by_name(report)["folder Success/"]["detail"].endswith("created")
    assert sftp_account.success.is_dir()
    assert statuses(report)["permissions Success/"] == "pass"
    assert_no_probe_left(*folders(sftp_account))


def test_create_folders_reports_a_folder_it_is_not_allowed_to_create(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    sftp_account.failure.rmdir()

    with unwritable(sftp_account.dir):
        report = run_setup_test(
            make_settings(tmp_path, sftp_source(sftp_account), flow), "acme", create_folders=True
        )

    folder = by_name(report)["folder Failure/"]
    assert folder["status"] == "fail"
    assert "cannot be created" in folder["detail"]
    assert "Permission denied" in folder["detail"]
    assert not sftp_account.failure.exists()


def test_a_folder_we_may_not_write_to_fails_at_create_and_leaves_nothing(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    with unwritable(sftp_account.success):
        report = run_setup_test(make_settings(tmp_path, sftp_source(sftp_account), flow), "acme")

    assert not report.ok
    check = by_name(report)["permissions Success/"]
    assert check["status"] == "fail"
    assert check["detail"].startswith("create failed")
    assert "Permission denied" in check["detail"]
    assert "create files" in check["fix"]
    assert statuses(report)["permissions Upload/"] == "pass"
    assert_no_probe_left(*folders(sftp_account))


def test_a_file_where_a_folder_should_be_is_diagnosed(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    sftp_account.failure.rmdir()
    sftp_account.failure.write_text("not a folder")

    report = run_setup_test(
        make_settings(tmp_path, sftp_source(sftp_account), flow), "acme", create_folders=True
    )

    folder = by_name(report)["folder Failure/"]
    assert folder["status"] == "fail"
    assert "is a file, not a folder" in folder["detail"]
    assert "move that file away" in folder["fix"]
    assert sftp_account.failure.read_text() == "not a folder"


def test_a_host_name_that_does_not_resolve_is_a_dns_failure(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    source = sftp_source(sftp_account, host="does-not-exist.invalid")

    report = run_setup_test(make_settings(tmp_path, source, flow), "acme")

    dns = by_name(report)["dns"]
    assert dns["status"] == "fail"
    assert "DNS lookup failed for does-not-exist.invalid" in dns["detail"]
    assert "host name" in dns["fix"]
    for name in ["tcp", "ssh", "host key", "authentication", *FOLDER_CHECKS, "server profile"]:
        assert statuses(report)[name] == "skip"
    assert statuses(report)[f"flow {FLOW_ID}"] == "pass"


def test_a_port_where_nothing_listens_is_a_refused_connection(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    port = free_port()
    report = run_setup_test(
        make_settings(tmp_path, sftp_source(sftp_account, port=port), flow), "acme"
    )

    tcp = by_name(report)["tcp"]
    assert tcp["status"] == "fail"
    assert f"nothing listens on port {port}" in tcp["detail"]
    assert "firewall" in tcp["fix"]
    assert statuses(report)["dns"] == "pass"
    assert statuses(report)["ssh"] == "skip"


def test_a_port_that_never_answers_is_a_timeout_that_blames_a_firewall(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    with black_hole_port() as port:
        source = sftp_source(sftp_account, port=port, connect_timeout_seconds=1)
        report = run_setup_test(make_settings(tmp_path, source, flow), "acme")

    tcp = by_name(report)["tcp"]
    assert tcp["status"] == "fail"
    assert tcp["detail"] == f"no answer from 127.0.0.1:{port} within 1 s"
    assert "firewall" in tcp["fix"] and "egress IP" in tcp["fix"]
    assert statuses(report)["ssh"] == "skip"


def test_a_port_that_is_not_ssh_is_named_as_such(
    sftp_account: SftpAccount, flow: PhononStub, tmp_path: Path
) -> None:
    port = int(flow.realtime_url.rsplit(":", 1)[1])  # an HTTP server, not SSH
    source = sftp_source(sftp_account, port=port, connect_timeout_seconds=2)

    report = run_setup_test(make_settings(tmp_path, source, flow), "acme")

    ssh = by_name(report)["ssh"]
    assert ssh["status"] == "fail"
    assert f"port {port}" in ssh["detail"]
    assert "not an SSH server" in ssh["detail"]


def test_the_test_email_is_sent_only_when_asked(
    sftp_account: SftpAccount,
    flow: PhononStub,
    smtp_server: SmtpTestServer,
    tmp_path: Path,
) -> None:
    smtp = {"host": smtp_server.host, "port": smtp_server.port, "security": "none"}
    settings = make_settings(tmp_path, sftp_source(sftp_account), flow, smtp=smtp)

    without = run_setup_test(settings, "acme")
    assert smtp_server.messages == []
    assert statuses(without)["test email"] == "skip"

    report = run_setup_test(settings, "acme", send_test_email=True)
    assert report.ok, report.render_text()
    assert statuses(report)["test email"] == "pass"
    assert [m.rcpt_tos for m in smtp_server.messages] == [("ops@acme.example",)]
    assert smtp_server.messages[0].mail_from == SENDER


def known_hosts_file(path: Path, sshd: SshdServer, line: str) -> Path:
    path.write_text(f"[127.0.0.1]:{sshd.port} {line}\n")
    return path


def test_a_key_listed_in_known_hosts_passes_and_says_where_it_was_found(
    sftp_account: SftpAccount, sshd: SshdServer, flow: PhononStub, tmp_path: Path
) -> None:
    known = known_hosts_file(tmp_path / "known_hosts", sshd, sshd.host_key_line)
    source = sftp_source(sftp_account, known_hosts=str(known))
    del source["host_key"]

    report = run_setup_test(make_settings(tmp_path, source, flow), "acme")

    assert report.ok, report.render_text()
    assert f"matches a key in {known}" in by_name(report)["host key"]["detail"]


def test_a_known_hosts_entry_for_another_key_is_a_mismatch_showing_both_fingerprints(
    sftp_account: SftpAccount, sshd: SshdServer, flow: PhononStub, tmp_path: Path
) -> None:
    other = keygen(tmp_path / "other-host")
    known = known_hosts_file(tmp_path / "known_hosts", sshd, other)
    source = sftp_source(sftp_account, known_hosts=str(known))
    del source["host_key"]

    report = run_setup_test(make_settings(tmp_path, source, flow), "acme")

    host_key = by_name(report)["host key"]
    assert "HOST KEY MISMATCH" in host_key["detail"]
    assert fingerprint(other) in host_key["detail"]
    assert fingerprint(sshd.host_key_line) in host_key["detail"]
    assert statuses(report)["authentication"] == "skip"


def _password_source(login: PasswordLogin, password: str) -> dict[str, Any]:
    name = f"pw{free_port()}"
    login.own(login.server.add_account(name))
    config = login.server.source_config(
        name, username=login.username, private_key=None, password=password
    )
    return {**config.model_dump(mode="json", exclude_none=True), "password": password}


def test_a_password_login_passes_and_a_wrong_password_is_named(
    password_login: PasswordLogin, flow: PhononStub, tmp_path: Path
) -> None:
    good = make_settings(tmp_path, _password_source(password_login, password_login.password), flow)
    report = run_setup_test(good, "acme")
    assert statuses(report)["authentication"] == "pass", report.render_text()
    assert statuses(report)["permissions Upload/"] == "pass", report.render_text()

    wrong = "not-" + password_login.password
    bad = make_settings(tmp_path / "bad", _password_source(password_login, wrong), flow)
    report = run_setup_test(bad, "acme")
    auth = by_name(report)["authentication"]
    # Messages on every assertion: this test failed once in a full run, never alone.
    assert auth["status"] == "fail", report.render_text()
    assert "password" in auth["detail"], auth
    assert "source.password" in auth["fix"], auth
    assert wrong not in output_of(report) and password_login.password not in output_of(report)


def test_setup_test_offers_a_password_customer_nothing_when_the_key_is_unknown(
    password_login: PasswordLogin,
    flow: PhononStub,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Password and key configured, no host key: exit 1, sshd never hears the user's name."""
    source = _password_source(password_login, password_login.password)
    del source["host_key"]
    source["private_key"] = str(password_login.server.client_key_path)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(make_mapping(tmp_path, source, flow)), encoding="utf-8")
    log_before = len(password_login.server.log())

    code = main(["setup-test", "--customer", "acme", "--json", "--config", str(config)])

    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert code == 1
    assert checks["host key"]["status"] == "fail"
    assert password_login.server.host_key_line in checks["host key"]["fix"]
    assert checks["authentication"]["status"] == "skip"
    assert checks["folder Upload/"]["status"] == "skip"
    assert "pin the key line" in checks["authentication"]["fix"]
    assert checks[f"flow {FLOW_ID}"]["status"] == "pass"
    assert checks["test email"]["status"] == "skip"
    assert password_login.username not in password_login.server.log()[log_before:]
