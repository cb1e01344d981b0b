"""The `run` scheduler's jobs: a watcher wake-up is never lost to a sweep in progress."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from sftp_watcher.poller import SweepResult
from sftp_watcher.scheduler import Wakes, phase, poll_trigger, sweep_job

WAIT = 20.0  # seconds; the interval below is an hour, so only a wake-up can be this quick


class SlowAccount:
    """Stands in for poller.Account: its first sweep holds until the test lets it go."""

    def __init__(self) -> None:
        self.customer = SimpleNamespace(id="acme")
        self.sweeps = 0
        self.first_started = threading.Event()
        self.release_first = threading.Event()
        self.second_started = threading.Event()

    closes = 0

    def close(self) -> None:
        self.closes += 1

    def sweep(self) -> SweepResult:
        self.sweeps += 1
        if self.sweeps == 1:
            self.first_started.set()
            self.release_first.wait(WAIT)
        else:
            self.second_started.set()
        return SweepResult(self.customer.id)


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
    yield scheduler
    if scheduler.running:
        scheduler.shutdown(wait=True)


def _start(scheduler: BackgroundScheduler, account: SlowAccount) -> Wakes:
    wakes = Wakes(scheduler)
    scheduler.add_job(
        sweep_job(scheduler, account, wakes),  # type: ignore[arg-type]
        "interval",
        seconds=3600,
        id="poll:acme",
        next_run_time=datetime.now(UTC),
    )
    scheduler.start()
    assert account.first_started.wait(WAIT)
    return wakes


def test_wake_during_a_sweep_runs_the_account_again_when_it_ends(
    scheduler: BackgroundScheduler,
) -> None:
    account = SlowAccount()
    wakes = _start(scheduler, account)
    skipped = threading.Event()
    scheduler.add_listener(lambda _: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    wakes.wake("poll:acme")  # a file landed after the running sweep listed the folder
    assert skipped.wait(WAIT)  # APScheduler refused the run: the sweep is still going
    account.release_first.set()
    assert account.second_started.wait(WAIT), "the wake-up was lost to the running sweep"
    assert account.sweeps == 2


def test_a_sweep_without_wake_ups_is_not_repeated(scheduler: BackgroundScheduler) -> None:
    account = SlowAccount()
    _start(scheduler, account)
    account.release_first.set()
    scheduler.shutdown(wait=True)  # the first sweep has returned, nothing else ran
    assert account.sweeps == 1


class Replicas:
    """Stands in for state.membership.Membership: this replica owns the account or not."""

    def __init__(self, mine: bool) -> None:
        self.mine = mine

    def owns(self, customer_id: str) -> bool:
        return self.mine


def test_an_account_another_replica_owns_is_left_to_it_and_its_session_released(
    scheduler: BackgroundScheduler,
) -> None:
    account = SlowAccount()
    account.release_first.set()
    wakes = Wakes(scheduler)

    sweep_job(scheduler, account, wakes, Replicas(mine=False))()  # type: ignore[arg-type]
    assert (account.sweeps, account.closes) == (0, 1)

    sweep_job(scheduler, account, wakes, Replicas(mine=True))()  # type: ignore[arg-type]
    assert (account.sweeps, account.closes) == (1, 1)


def test_an_accounts_polls_come_one_interval_apart_at_its_own_phase() -> None:
    """APScheduler's jitter is added to the previous, already jittered fire time (gaps of
    60 to 75 s for 60 s); the phase is fixed instead, and the gaps are the interval."""
    interval = 60.0
    now = datetime(2026, 2, 8, 21, 12, 7, 123456, tzinfo=UTC)
    trigger = poll_trigger("acme", interval)
    fire = trigger.get_next_fire_time(None, now)
    assert fire is not None and now <= fire < now + timedelta(seconds=interval)
    times = [fire]
    for _ in range(500):
        fire = trigger.get_next_fire_time(fire, fire)
        times.append(fire)
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
    assert gaps == {interval}
    offset = phase("acme", interval)
    assert all(abs(t.timestamp() % interval - offset) < 1e-3 for t in times)
    # After a run moved earlier (a wake-up), the next run is on the same grid.
    woken = times[3] - timedelta(seconds=17)
    assert trigger.get_next_fire_time(woken, woken) == times[3]


def test_accounts_are_spread_over_the_interval_and_keep_their_phase() -> None:
    phases = [phase(f"customer{i}", 60.0) for i in range(1000)]
    assert all(0 <= p < 60 for p in phases)
    # Spread: every tenth of the interval holds some accounts, none most of them.
    tenths = Counter(int(p // 6) for p in phases)
    assert len(tenths) == 10 and max(tenths.values()) < 200
    assert phase("acme", 60.0) == phase("acme", 60.0), "the same in every process"
