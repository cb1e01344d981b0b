"""Crash safety (SPEC 9): SIGKILL the real `run` process at every step and at random moments.

After each kill the service is started again; in the end every file is archived once,
no call reached Phonon twice (by client-identifier and by number), nothing is left
claimed in Upload/, and each file got one email (a resend after a kill between "sent"
and "recorded" carries the same Message-ID, which is how SPEC 8 recognises it).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from sftp_watcher.crashpoints import POINTS
from tests.servers.rig import FLOW_ID, USER_ID, Rig, csv_text, mobile, tomorrow_at

pytestmark = [pytest.mark.sshd, pytest.mark.slow]

RUN_TIMEOUT = 60.0


def _start(config: Path, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "SFTP_WATCHER_CRASH_AT"}
    if crash_at:
        env["SFTP_WATCHER_CRASH_AT"] = crash_at
    # Logs go to a file: a pipe nobody reads would fill up and block the service.
    with (config.parent / "service.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "sftp_watcher.cli", "run", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def _log_tail(config: Path) -> str:
    return (config.parent / "service.log").read_text(errors="replace")[-4000:]


def _drop_files(rig: Rig, round_: int) -> dict[str, int]:
    """Three uploads: a 2-batch list (with a bad row -> errors file), a small one, a reject."""
    start = tomorrow_at(10) + timedelta(minutes=round_)
    big = [mobile(round_ * 10_000 + i) for i in range(600)]
    files = {
        f"C{USER_ID}_{FLOW_ID}_upload_{start:%d%m%Y%H%M%S}.csv": csv_text(*big, "12345"),
        f"C{USER_ID}_{FLOW_ID}_upload_{start + timedelta(seconds=1):%d%m%Y%H%M%S}.csv": (
            csv_text(mobile(round_ * 10_000 + 900))
        ),
        f"C999_{FLOW_ID}_upload_{start:%d%m%Y%H%M%S}.csv": csv_text(mobile(1)),
    }
    for name, text in files.items():
        rig.drop(name, text)
    return {name: text.count("\n") - 1 for name, text in files.items()}


def _wait_until_done(rig: Rig, process: subprocess.Popen[bytes], files: int, config: Path) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    log = config.parent / "service.log"
    started_before = log.read_text(errors="replace").count('"service.started"')
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"service exited early ({process.returncode}):\n{_log_tail(config)}")
        listing = rig.listing()
        archived = [n for n in listing["Success"] + listing["Failure"] if "errors" not in n]
        ids = {m.message["Message-ID"] for m in rig.smtp.messages}
        started = log.read_text(errors="replace").count('"service.started"') > started_before
        done = not listing["Upload"] and len(archived) >= files and len(ids) >= files
        if started and done:
            return
        time.sleep(0.2)
    pytest.fail(f"not done in {RUN_TIMEOUT}s: {rig.listing()}\n{_log_tail(config)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _assert_exactly_once(rig: Rig, files: int) -> None:
    listing = rig.listing()
    assert listing["Upload"] == [], "a file was left in Upload/ (or left claimed)"
    archived = [n for n in listing["Success"] + listing["Failure"] if "errors" not in n]
    assert len(archived) == files, listing
    by_id = rig.phonon.calls_by_client_id()
    assert all(len(calls) == 1 for calls in by_id.values()), "a call was accepted twice"
    numbers = Counter(c["contact-numbers"][0] for c in rig.phonon.accepted_calls)
    assert all(n == 1 for n in numbers.values()), "a number was called twice"
    message_ids = Counter(str(m.message["Message-ID"]) for m in rig.smtp.messages)
    assert len(message_ids) == files, "each file gets exactly one email (one Message-ID)"


def _rig_for_crashes(rig: Rig) -> Path:
    rig.overrides.update({"poll_interval_seconds": 1, "duplicate_window_hours": 0})
    return rig.write_config()


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_each_step_then_restart(rig: Rig, point: str) -> None:
    config = _rig_for_crashes(rig)
    rows = _drop_files(rig, 0)
    crashed = _start(config, crash_at=point)
    try:
        code = crashed.wait(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = None
    try:
        assert code == -signal.SIGKILL, f"never reached {point}:\n{_log_tail(config)}"
    finally:
        if crashed.poll() is None:
            crashed.kill()
            crashed.wait()
    process = _start(config)
    _wait_until_done(rig, process, len(rows), config)
    _stop(process)
    _assert_exactly_once(rig, len(rows))
    valid_calls = 600 + 1
    assert len(rig.phonon.accepted_calls) == valid_calls
    if point != "email.after_send":
        assert len(rig.smtp.messages) == len(rows)


@pytest.mark.timeout(400)
def test_fifty_random_kills_and_restarts(rig: Rig) -> None:
    config = _rig_for_crashes(rig)
    rng = random.Random(20261126)
    files = 0
    for cycle in range(50):
        if cycle % 10 == 0:
            files += len(_drop_files(rig, cycle // 10 + 1))
        process = _start(config)
        time.sleep(rng.uniform(0.3, 2.0))
        process.kill()
        process.wait()
    process = _start(config)
    _wait_until_done(rig, process, files, config)
    _stop(process)
    _assert_exactly_once(rig, files)
