"""setup-test checks the mailbox when the email channel is on (SPEC 10, 11)."""

from __future__ import annotations

import json

import pytest

from sftp_watcher import cli
from tests.mailbox.rig import EmailRig

pytestmark = pytest.mark.dovecot


def _setup_test(
    rig: EmailRig, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, dict[str, dict[str, str]]]:
    config = rig.write_config()
    code = cli.main(["setup-test", "--config", str(config), "--customer", "acme", "--json", *flags])
    report = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in report["checks"]}


def test_missing_folders_fail_until_created_and_the_probe_leaves_nothing(
    email_rig: EmailRig, capsys: pytest.CaptureFixture[str]
) -> None:
    code, checks = _setup_test(email_rig, capsys)
    assert code == 1
    assert checks["mailbox login"]["status"] == "pass"
    assert checks["mailbox folder INBOX"]["status"] == "pass"
    assert checks["mailbox folder Rejected"]["status"] == "fail"
    assert "--create-folders" in checks["mailbox folder Rejected"]["fix"]
    assert checks["mailbox probe"]["status"] == "skip"

    code, checks = _setup_test(email_rig, capsys, "--create-folders")
    assert code == 0, checks
    assert checks["mailbox folder Success"]["detail"] == "created"
    assert checks["mailbox probe"]["status"] == "pass"
    assert checks["email senders"]["status"] == "pass"
    assert {"Success", "Failure", "Rejected"} <= email_rig.mailbox.folders()
    for folder in ("INBOX", "Success", "Failure", "Rejected"):
        assert email_rig.folder(folder) == [], folder


def test_a_refused_login_fails_and_skips_the_rest_without_showing_the_password(
    email_rig: EmailRig, capsys: pytest.CaptureFixture[str]
) -> None:
    email_rig.mailbox = type(email_rig.mailbox)(
        email_rig.mailbox.server, email_rig.mailbox.name, "not-the-password"
    )
    code, checks = _setup_test(email_rig, capsys, "--create-folders")
    assert code == 1
    assert checks["mailbox login"]["status"] == "fail"
    assert checks["mailbox probe"]["status"] == "skip"
    assert "not-the-password" not in json.dumps(checks)
