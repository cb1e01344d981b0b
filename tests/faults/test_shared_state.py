"""Processes sharing one SQLite state database (SPEC 3): `poll-once` beside `poll-once`,
`run` beside a `poll-once` from cron, on the real sshd and on local folders.

Phonon answers slowly, so one process is still in a file's Phonon call when the other
sweeps the same account: the account's operating-system lock makes the second skip it.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.conftest import Fleet, FleetAccount, RunProcess, wait_for
from tests.servers.sshd import SshdServer

pytestmark = [pytest.mark.sshd]

FILES = 4
LATENCY_SECONDS = 1.5
TIMEOUT = 120.0


def _accounts(fleet: Fleet, where: str, sshd: SshdServer) -> list[FleetAccount]:
    if where == "sftp":
        return [fleet.add(sshd) for _ in range(2)]
    return [fleet.add_local() for _ in range(2)]


def _drop(accounts: list[FleetAccount]) -> list[str]:
    numbers: list[str] = []
    for account in accounts:
        for _ in range(FILES):
            numbers += account.drop()[1]
    return numbers


def _poll_once(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sftp_watcher.cli", "poll-once", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return process.returncode, err


def _assert_each_once(fleet: Fleet, accounts: list[FleetAccount], numbers: list[str]) -> None:
    for account in accounts:
        listing = account.listing()
        assert listing["Upload"] == [], f"{account.customer_id}: left in Upload/: {listing}"
        assert listing["Failure"] == [], f"{account.customer_id}: rejected: {listing}"
        assert len(listing["Success"]) == FILES, listing
    called = Counter(c["contact-numbers"][0] for c in fleet.phonon.accepted_calls)
    assert sorted(called.elements()) == sorted(numbers), "every valid number is called, once"
    assert sorted(Counter(fleet.message_ids()).values()) == [1] * len(numbers), "one email each"


@pytest.mark.parametrize("where", ["sftp", "local"])
def test_two_poll_once_at_once_on_one_sqlite_file(
    fleet: Fleet, sshd: SshdServer, where: str
) -> None:
    accounts = _accounts(fleet, where, sshd)
    numbers = _drop(accounts)
    fleet.phonon.slow_down(LATENCY_SECONDS)
    config = fleet.write_config()
    first, second = _poll_once(config), _poll_once(config)
    for code, err in (_finish(first), _finish(second)):
        assert code == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
    _assert_each_once(fleet, accounts, numbers)


@pytest.mark.parametrize("where", ["sftp", "local"])
def test_run_and_a_poll_once_share_one_sqlite_file(
    fleet: Fleet,
    sshd: SshdServer,
    where: str,
    run_process: Callable[..., RunProcess],
) -> None:
    accounts = _accounts(fleet, where, sshd)
    numbers = _drop(accounts)
    fleet.phonon.slow_down(LATENCY_SECONDS)
    config = fleet.write_config()
    run = run_process(config)
    # The poll-once starts while `run` is in a Phonon call.
    wait_for(
        lambda: bool(fleet.phonon.requests),
        TIMEOUT,
        "run sent nothing to Phonon",
        check=run.check_alive,
    )
    code, err = _finish(_poll_once(config))
    assert code == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]

    def done() -> bool:
        return sum(len(a.archived()) for a in accounts) >= len(numbers) and len(
            fleet.message_ids()
        ) >= len(numbers)

    wait_for(done, TIMEOUT, lambda: f"{len(fleet.message_ids())} emails", check=run.check_alive)
    assert run.stop() == 0
    failed = [e for e in run.events() if e.get("level") in {"error", "critical"}]
    assert failed == [], "`run` never fails because another process works"
    _assert_each_once(fleet, accounts, numbers)
