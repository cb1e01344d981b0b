"""`run` with the email channel on: a message delivered while it waits is taken (IDLE),
and SIGTERM still ends it cleanly (SPEC 9, 11)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.mailbox.rig import EmailRig, upload_message
from tests.servers.rig import csv_text, mobile

pytestmark = pytest.mark.dovecot


def test_run_takes_a_message_delivered_while_it_idles(email_rig: EmailRig) -> None:
    # An hour between polls: only IDLE can bring the message in within the test.
    email_rig.overrides["poll_interval_seconds"] = 3600
    config = email_rig.write_config()
    log = config.parent / "service.log"
    with log.open("ab") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "sftp_watcher.cli", "run", "--config", str(config)],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while b'"service.started"' not in log.read_bytes():
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.1)
        email_rig.deliver(upload_message(("a.csv", csv_text(mobile(5)).encode())))
        while not email_rig.answers():
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert len(email_rig.phonon.accepted_calls) == 1
    assert email_rig.folder("INBOX") == []
