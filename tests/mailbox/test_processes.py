"""The email channel with ``processes: 2`` (SPEC 9, 11): `run` and `poll-once` drain the
mailbox once per replica, every upload is called once, every sender answered once, every
account holder emailed once per upload, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sftp_watcher.state.models import EmailStatus, OutboxEmail
from sftp_watcher.state.store import Store
from tests.mailbox.rig import EmailRig, upload_message
from tests.servers.rig import csv_text, mobile

pytestmark = pytest.mark.dovecot

MESSAGES = 4  # the last with two attachments: five uploads
UPLOADS = MESSAGES + 1


@pytest.fixture(params=["sqlite", "postgresql"])
def rig(request: pytest.FixtureRequest, email_rig: EmailRig) -> EmailRig:
    """Two local accounts (so two sweep processes), the mailbox with waiting messages."""
    if request.param == "postgresql":
        email_rig.overrides["state_url"] = request.getfixturevalue("pg_url")
    base = email_rig.mapping()
    acme = base["customers"][0]
    (email_rig.tmp / "beta").mkdir()
    for folder in ("Upload", "Success", "Failure"):
        (email_rig.tmp / "beta" / folder).mkdir()
    beta: dict[str, Any] = {
        **acme,
        "id": "beta",
        "emails": ["holder@beta.example"],
        "source": {"kind": "local", "path": str(email_rig.tmp / "beta"), "watch": False},
        "flows": [{**acme["flows"][0], "id": "betaflow"}],
        "email_senders": ["ops@beta.example"],
    }
    email_rig.overrides |= {"processes": 2, "customers": [acme, beta]}
    for n in range(MESSAGES - 1):
        email_rig.deliver(upload_message((f"list{n}.csv", csv_text(mobile(n)).encode())))
    email_rig.deliver(
        upload_message(
            ("a.csv", csv_text(mobile(50)).encode()), ("b.csv", csv_text(mobile(51)).encode())
        )
    )
    return email_rig


def _each_once(rig: EmailRig) -> None:
    calls = rig.phonon.calls_by_client_id()
    assert len(calls) == UPLOADS
    assert all(len(c) == 1 for c in calls.values())
    assert len(rig.answers()) == MESSAGES
    assert len({a["In-Reply-To"] for a in rig.answers()}) == MESSAGES
    assert len(rig.holder_emails()) == UPLOADS
    assert rig.folder("INBOX") == []
    assert len(rig.folder("Success")) == MESSAGES
    store = Store.open(rig.settings().state_url)
    try:
        with store.session() as session:
            emails = list(session.query(OutboxEmail))
        assert len(emails) == MESSAGES + UPLOADS
        assert all(e.status == EmailStatus.SENT.value and e.attempts == 1 for e in emails)
    finally:
        store.close()


def _wait_for(rig: EmailRig, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while len(rig.answers()) < MESSAGES or len(rig.holder_emails()) < UPLOADS:
        assert time.monotonic() < deadline and process.poll() is None, log.read_text()
        time.sleep(0.1)


def test_run_with_two_processes_drains_the_mailbox_once(rig: EmailRig) -> None:
    config = rig.write_config()
    log = config.parent / "service.log"
    with log.open("ab") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "sftp_watcher.cli", "run", "--config", str(config)],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        _wait_for(rig, process, log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    _each_once(rig)
    # One reader of the mailbox per replica, not one per sweep process.
    assert log.read_bytes().count(b'"email.mailbox_connected"') == 1


def test_poll_once_with_two_processes_drains_the_mailbox_once(rig: EmailRig) -> None:
    config = rig.write_config()
    done = subprocess.run(
        [sys.executable, "-m", "sftp_watcher.cli", "poll-once", "--config", str(config)],
        env=dict(os.environ),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    _each_once(rig)
