"""setup-test for a local-folder customer, and the Phonon and email checks (no sshd needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftp_watcher.errors import ConfigError
from sftp_watcher.onboarding import run_setup_test
from tests.onboarding.helpers import (
    FLOW_ID,
    SECURITY_ID,
    SENDER,
    assert_no_probe_left,
    by_name,
    local_source,
    make_settings,
    output_of,
    statuses,
)
from tests.servers.phonon_stub import PhononStub
from tests.servers.smtp import SmtpTestServer

BULK_FLOW = "Bulk1234"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "acme"


def test_a_local_customer_checks_its_folders_and_skips_the_sftp_checks(
    root: Path, phonon_stub: PhononStub, tmp_path: Path
) -> None:
    phonon_stub.register_flow(FLOW_ID, SECURITY_ID)
    report = run_setup_test(make_settings(tmp_path, local_source(root), phonon_stub), "acme")

    assert report.ok, report.render_text()
    found = statuses(report)
    for name in ["dns", "tcp", "ssh", "host key", "authentication", "server profile"]:
        assert found[name] == "skip"
    for folder in ["Upload/", "Success/", "Failure/"]:
        assert found[f"folder {folder}"] == "pass"
        assert found[f"permissions {folder}"] == "pass"
    assert_no_probe_left(root / "Upload", root / "Success", root / "Failure")


def test_an_unknown_customer_is_a_configuration_error(
    root: Path, phonon_stub: PhononStub, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="no customer with id 'nobody'"):
        run_setup_test(make_settings(tmp_path, local_source(root), phonon_stub), "nobody")


def test_a_customer_without_emails_gets_a_configuration_warning(
    root: Path, phonon_stub: PhononStub, tmp_path: Path
) -> None:
    phonon_stub.register_flow(FLOW_ID, SECURITY_ID)
    settings = make_settings(tmp_path, local_source(root), phonon_stub, emails=[])
    report = run_setup_test(settings, "acme")
    check = by_name(report)["configuration"]
    assert check["status"] == "warn"
    assert "no emails" in check["detail"]
    assert report.ok


def test_a_wrong_security_id_is_code_202_with_the_fix(
    root: Path, phonon_stub: PhononStub, tmp_path: Path
) -> None:
    phonon_stub.register_flow(FLOW_ID, "the-real-security-id")
    report = run_setup_test(make_settings(tmp_path, local_source(root), phonon_stub), "acme")
    flow = by_name(report)[f"flow {FLOW_ID}"]
    assert not report.ok
    assert flow["status"] == "fail"
    assert "202 Invalid Security ID" in flow["detail"]
    assert "security_id" in flow["fix"]
    assert SECURITY_ID not in output_of(report)


def test_a_wrong_flow_id_is_code_301_with_the_fix(
    root: Path, phonon_stub: PhononStub, tmp_path: Path
) -> None:
    report = run_setup_test(make_settings(tmp_path, local_source(root), phonon_stub), "acme")
    flow = by_name(report)[f"flow {FLOW_ID}"]
    assert flow["status"] == "fail"
    assert "301 Invalid Flow ID" in flow["detail"]
    assert "flows[].id" in flow["fix"]


def test_an_ip_not_whitelisted_is_code_401_on_realtime_and_http_403_on_bulk(
    root: Path, phonon_stub: PhononStub, tmp_path: Path
) -> None:
    phonon_stub.register_flow(FLOW_ID, SECURITY_ID)
    phonon_stub.register_flow(BULK_FLOW, SECURITY_ID, type="multicast")
    phonon_stub.ip_whitelisted = False
    flows = [
        {"id": FLOW_ID, "security_id": SECURITY_ID},
        {"id": BULK_FLOW, "security_id": SECURITY_ID, "type": "multicast", "host": "bulk"},
    ]
    settings = make_settings(tmp_path, local_source(root), phonon_stub, flows=flows)

    report = run_setup_test(settings, "acme")

    realtime, bulk = by_name(report)[f"flow {FLOW_ID}"], by_name(report)[f"flow {BULK_FLOW}"]
    assert realtime["status"] == "fail"
    assert "401 IP Not Whitelisted" in realtime["detail"]
    assert "whitelist" in realtime["fix"]
    assert bulk["status"] == "fail"
    assert "HTTP 403" in bulk["detail"]
    assert "whitelist" in bulk["fix"]


def test_phonon_unreachable_is_a_network_diagnosis(
    root: Path, phonon_stub: PhononStub, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        local_source(root),
        phonon_stub,
        phonon={"realtime_base_url": "http://127.0.0.1:9"},
    )
    flow = by_name(run_setup_test(settings, "acme"))[f"flow {FLOW_ID}"]
    assert flow["status"] == "fail"
    assert "cannot reach" in flow["detail"]
    assert "firewall" in flow["fix"]


def test_in_dry_run_the_flows_are_skipped_and_phonon_is_not_contacted(
    root: Path, phonon_stub: PhononStub, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, local_source(root), phonon_stub, phonon={"dry_run": True})
    report = run_setup_test(settings, "acme")
    flow = by_name(report)[f"flow {FLOW_ID}"]
    assert flow["status"] == "skip"
    assert flow["detail"].startswith("phonon.dry_run is on: nothing is sent to Phonon; ")
    assert phonon_stub.requests == []


def test_each_flow_check_lists_the_flows_variables(
    root: Path, phonon_stub: PhononStub, tmp_path: Path
) -> None:
    phonon_stub.register_flow(FLOW_ID, SECURITY_ID)
    phonon_stub.register_flow("Other123", SECURITY_ID)
    flows = [
        {"id": FLOW_ID, "security_id": SECURITY_ID, "variables": ["Name", "Amount"]},
        {"id": "Other123", "security_id": SECURITY_ID},
    ]
    settings = make_settings(tmp_path, local_source(root), phonon_stub, flows=flows)
    checks = by_name(run_setup_test(settings, "acme"))
    assert checks[f"flow {FLOW_ID}"]["status"] == "pass"
    assert "variables: Name, Amount" in checks[f"flow {FLOW_ID}"]["detail"]
    assert "variables not declared" in checks["flow Other123"]["detail"]


def test_a_mail_server_refusing_the_sender_fails_the_test_email(
    root: Path, phonon_stub: PhononStub, smtp_server: SmtpTestServer, tmp_path: Path
) -> None:
    phonon_stub.register_flow(FLOW_ID, SECURITY_ID)
    smtp_server.refused_senders.add(SENDER)
    smtp = {"host": smtp_server.host, "port": smtp_server.port, "security": "none"}
    settings = make_settings(tmp_path, local_source(root), phonon_stub, smtp=smtp)

    report = run_setup_test(settings, "acme", send_test_email=True)

    email = by_name(report)["test email"]
    assert not report.ok
    assert email["status"] == "fail"
    assert "sender refused" in email["detail"]
    assert "550" in email["detail"]
    assert SENDER in email["fix"]
    assert smtp_server.messages == []


def test_the_smtp_password_never_prints(
    root: Path, phonon_stub: PhononStub, smtp_server: SmtpTestServer, tmp_path: Path
) -> None:
    """The plain test server offers no AUTH, so the login fails; the password stays hidden."""
    password = "smtp-Pa55word-secret"
    smtp = {
        "host": smtp_server.host,
        "port": smtp_server.port,
        "security": "none",
        "username": "uploads",
        "password": password,
    }
    settings = make_settings(tmp_path, local_source(root), phonon_stub, smtp=smtp)
    report = run_setup_test(settings, "acme", send_test_email=True)
    assert statuses(report)["test email"] == "fail"
    assert password not in output_of(report)


def test_an_unpublished_flow_version_is_code_304_with_the_fix(
    root: Path, phonon_stub: PhononStub, tmp_path: Path
) -> None:
    phonon_stub.register_flow(FLOW_ID, SECURITY_ID)
    phonon_stub.inject("code304")
    report = run_setup_test(make_settings(tmp_path, local_source(root), phonon_stub), "acme")
    flow = by_name(report)[f"flow {FLOW_ID}"]
    assert flow["status"] == "fail"
    assert "304 Invalid Flow Version" in flow["detail"]
    assert "api_version" in flow["fix"]
