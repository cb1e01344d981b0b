"""Kill `poll-once` (SIGKILL) at every step of an email upload, then run it again: every
attachment's calls once, one answer, one account-holder email per upload (SPEC 9, 11)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sftp_watcher.crashpoints import MAIL_POINTS, POINTS
from tests.mailbox.rig import SENDER, EmailRig, upload_message
from tests.servers.rig import csv_text, mobile

pytestmark = [pytest.mark.dovecot, pytest.mark.slow]

# The pipeline's steps an email upload passes (it enters CLAIMED: no claim rename).
PIPELINE_POINTS = tuple(p for p in POINTS if not p.startswith("claim."))


def _poll_once(config: Path, crash_at: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "SFTP_WATCHER_CRASH_AT"}
    if crash_at:
        env["SFTP_WATCHER_CRASH_AT"] = crash_at
    with (config.parent / "service.log").open("ab") as log:
        done = subprocess.run(
            [sys.executable, "-m", "sftp_watcher.cli", "poll-once", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            timeout=90,
            check=False,
        )
    return done.returncode


def _distinct(messages: list[object]) -> int:
    return len({str(m["Message-ID"]) for m in messages})  # type: ignore[index]


@pytest.mark.parametrize("point", MAIL_POINTS + PIPELINE_POINTS)
def test_kill_at_each_step_of_an_email_upload_then_run_again(
    email_rig: EmailRig, point: str
) -> None:
    config = email_rig.write_config()
    email_rig.deliver(
        upload_message(
            ("good.csv", csv_text(*(mobile(n) for n in range(1, 600))).encode()),
            ("partial.csv", csv_text(mobile(900), "12345").encode()),
        )
    )
    log = config.parent / "service.log"
    assert _poll_once(config, point) == -signal.SIGKILL, log.read_text()[-3000:]
    assert _poll_once(config) == 0, log.read_text()[-3000:]
    by_id = email_rig.phonon.calls_by_client_id()
    assert len(by_id) == 600 and all(len(c) == 1 for c in by_id.values())
    numbers = Counter(c["contact-numbers"][0] for c in email_rig.phonon.accepted_calls)
    assert all(n == 1 for n in numbers.values()), "a number was called twice"
    assert _distinct(email_rig.answers()) == 1
    assert _distinct(email_rig.holder_emails()) == 2
    if point != "email.after_send":
        assert len(email_rig.smtp.messages) == 3
    assert email_rig.folder("INBOX") == []
    assert len(email_rig.folder("Success")) == 1
    [answer] = {str(m["Message-ID"]): m for m in email_rig.answers()}.values()
    assert SENDER in str(answer["To"])
    assert [a.get_filename() for a in answer.iter_attachments()] == ["partial.csv.errors.csv"]
