"""SPEC 3: an upload in hand when the process died 3 times in a row is failed to Failure/
with its email, instead of stopping its account at every start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sftp_watcher.state.store import Store
from tests.servers.rig import FLOW_ID, USER_ID, Rig, csv_text, mobile, tomorrow_at

pytestmark = [pytest.mark.sshd]


def _poll_once(config: Path, crash_at: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "SFTP_WATCHER_CRASH_AT"}
    if crash_at:
        env["SFTP_WATCHER_CRASH_AT"] = crash_at
    command = [sys.executable, "-m", "sftp_watcher.cli", "poll-once", "--config", str(config)]
    return subprocess.run(
        command,
        check=False,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    ).returncode


def test_killed_three_times_in_hand_then_failed_with_one_email(rig: Rig) -> None:
    name = f"C{USER_ID}_{FLOW_ID}_upload_{tomorrow_at(10):%d%m%Y%H%M%S}.csv"
    rig.drop(name, csv_text(mobile(1)))
    config = rig.write_config()
    for _ in range(3):
        assert _poll_once(config, crash_at="phonon.before_send") == -signal.SIGKILL
    assert _poll_once(config) == 0
    assert rig.listing() == {"Upload": [], "Success": [], "Failure": [name]}
    assert rig.phonon.accepted_calls == []
    [mail] = rig.smtp.messages
    body = mail.message.get_body(("plain",))
    assert body is not None
    text = str(body.get_content())
    assert "could not be processed" in text
    assert "3 times" in text
    store = Store(rig.mapping()["state_url"])
    try:
        [upload] = store.recent()
        assert (upload.state, upload.attempts) == ("done", 4)
        assert upload.id in text
        # The batch may have reached Phonon before the kill: never sent again, and a
        # later upload of the same list is still seen as a possible duplicate.
        assert [b.status for b in store.batches(upload.id)] == ["uncertain"]
    finally:
        store.close()
    assert _poll_once(config) == 0
    assert len(rig.smtp.messages) == 1


def test_one_kill_does_not_fail_the_upload(rig: Rig) -> None:
    name = f"C{USER_ID}_{FLOW_ID}_upload_{tomorrow_at(11):%d%m%Y%H%M%S}.csv"
    rig.drop(name, csv_text(mobile(2)))
    config = rig.write_config()
    assert _poll_once(config, crash_at="judge.after_record") == -signal.SIGKILL
    assert _poll_once(config) == 0
    assert rig.listing() == {"Upload": [], "Success": [name], "Failure": []}
    assert len(rig.phonon.accepted_calls) == 1
