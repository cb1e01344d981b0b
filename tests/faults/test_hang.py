"""SPEC 3: an upload that hangs past ``upload_deadline_seconds`` ends its process (exit 4)
so that it is restarted; the restarts count its attempts, so after 3 hangs it is failed
to Failure/ with one email, while the other accounts' files are processed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sftp_watcher.cli import EXIT_HUNG
from sftp_watcher.state.store import Store
from tests.faults.conftest import (
    Fleet,
    FleetAccount,
    RunProcess,
    count_events,
    json_events,
    wait_for,
)
from tests.servers.sshd import SshdServer

pytestmark = [pytest.mark.sshd]

DEADLINE_SECONDS = 3
# Generous: start-up, a sweep and the deadline on a loaded machine.
EXIT_TIMEOUT = 60


def _hang_env(account: FleetAccount) -> dict[str, str]:
    return {"SFTP_WATCHER_CRASH_AT": f"hang:phonon.before_send#{account.customer_id}"}


def _fleet(fleet: Fleet, sshd: SshdServer) -> tuple[FleetAccount, FleetAccount]:
    phonon = dict(fleet.mapping()["phonon"], retry_budget_seconds=1)
    fleet.overrides.update(phonon=phonon, upload_deadline_seconds=DEADLINE_SECONDS)
    return fleet.add(sshd), fleet.add(sshd)


def _check_failed(fleet: Fleet, hung: FleetAccount, name: str, good: FleetAccount) -> None:
    """The hung file in Failure/ with one email quoting its id; the good one processed."""
    assert hung.listing() == {"Upload": [], "Success": [], "Failure": [name]}
    [mail] = [m for m in fleet.smtp.messages if hung.customer_id in str(m.message["To"])]
    body = mail.message.get_body(("plain",))
    assert body is not None
    text = str(body.get_content())
    assert "could not be processed" in text
    assert "3 times" in text
    store = Store(fleet.state_url)
    try:
        [upload] = [u for u in store.recent() if u.customer_id == hung.customer_id]
        assert (upload.state, upload.attempts) == ("done", 4)
        assert upload.id in text
    finally:
        store.close()
    [good_name] = good.archived()
    assert good.listing()["Success"] == [good_name]


def test_run_hangs_three_times_then_fails_the_upload(
    fleet: Fleet, sshd: SshdServer, run_process: Callable[..., RunProcess]
) -> None:
    hung, good = _fleet(fleet, sshd)
    hung_name, _ = hung.drop()
    _, numbers = good.drop()
    config = fleet.write_config()
    for _ in range(3):
        run = run_process(config, env=_hang_env(hung))
        # On a build without the deadline, `run` hangs for good and this times out.
        assert run.process.wait(timeout=EXIT_TIMEOUT) == EXIT_HUNG
        events = run.events()
        assert count_events(events, "upload.hung", customer=hung.customer_id, step="trigger") == 1
        [event] = [e for e in events if e.get("event") == "upload.hung"]
        assert event["level"] == "error"
        assert event["file"] == hung_name
        assert event["seconds"] >= DEADLINE_SECONDS
        assert hung.listing()["Failure"] == []
    run = run_process(config, env=_hang_env(hung))

    def settled() -> bool:
        return hung.listing()["Failure"] == [hung_name] and len(fleet.smtp.messages) >= 2

    wait_for(settled, EXIT_TIMEOUT, lambda: str(hung.listing()), check=run.check_alive)
    assert run.stop() == 0
    _check_failed(fleet, hung, hung_name, good)
    assert [c["contact-numbers"][0] for c in fleet.phonon.accepted_calls] == numbers
    assert len(fleet.smtp.messages) == 2
    assert count_events(run.events(), "upload.hung") == 0


def test_run_with_two_processes_restarts_the_hung_one_until_the_upload_fails(
    fleet: Fleet, sshd: SshdServer, run_process: Callable[..., RunProcess]
) -> None:
    hung, good = _fleet(fleet, sshd)
    fleet.overrides["processes"] = 2
    hung_name, _ = hung.drop()
    good.drop()
    run = run_process(fleet.write_config(), env=_hang_env(hung))

    def settled() -> bool:
        return hung.listing()["Failure"] == [hung_name] and len(fleet.smtp.messages) >= 2

    # Three hangs, each with its restart pause (1, 2 and 5 s), then the failure: within
    # the suite's 120 s per test.
    wait_for(settled, 100, lambda: str(hung.listing()), check=run.check_alive)
    assert run.stop() == 0
    _check_failed(fleet, hung, hung_name, good)
    events = run.events()
    assert count_events(events, "upload.hung", customer=hung.customer_id) == 3
    assert count_events(events, "process.died", exit_code=EXIT_HUNG) == 3
    assert len(fleet.smtp.messages) == 2


def _poll_once(config: Path, env: dict[str, str]) -> tuple[int, str]:
    full_env = {k: v for k, v in os.environ.items() if k != "SFTP_WATCHER_CRASH_AT"} | env
    command = [sys.executable, "-m", "sftp_watcher.cli", "poll-once", "--config", str(config)]
    done = subprocess.run(
        command,
        check=False,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=EXIT_TIMEOUT,
    )
    return done.returncode, done.stderr.decode(errors="replace")


@pytest.mark.parametrize("processes", [1, 2])
def test_poll_once_exits_hung_and_fails_the_upload_at_the_fourth(
    fleet: Fleet, sshd: SshdServer, processes: int
) -> None:
    hung, good = _fleet(fleet, sshd)
    fleet.overrides["processes"] = processes
    hung_name, _ = hung.drop()
    good.drop()
    config = fleet.write_config()
    for _ in range(3):
        code, stderr = _poll_once(config, _hang_env(hung))
        assert code == EXIT_HUNG, stderr[-3000:]
        assert count_events(json_events(stderr), "upload.hung", customer=hung.customer_id) == 1
    code, stderr = _poll_once(config, _hang_env(hung))
    assert code == 0, stderr[-3000:]
    _check_failed(fleet, hung, hung_name, good)
    assert len(fleet.smtp.messages) == 2
