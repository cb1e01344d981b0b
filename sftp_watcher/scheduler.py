"""`sftp-watcher run`: APScheduler jobs per account, local-folder watchers, clean shutdown.

One job per account, run every ``poll_interval_seconds`` at a phase of its own (so
hundreds of accounts do not poll in lockstep; never two runs of one account at once),
`workers` accounts at a time, plus the outbox and retention jobs. SIGTERM stops new
work, lets the file in hand finish within ``shutdown_deadline_seconds`` and returns
normally (exit 0).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from functools import partial

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from sftp_watcher.config import LocalSourceConfig
from sftp_watcher.observability.health import HealthServer
from sftp_watcher.poller import Account
from sftp_watcher.retention import sweep_retention
from sftp_watcher.service import Service
from sftp_watcher.signals import install_signal_handlers
from sftp_watcher.sources.local import watch_upload
from sftp_watcher.state.membership import Membership

log = structlog.get_logger("sftp_watcher.scheduler")

OUTBOX_INTERVAL_SECONDS = 15
OUTBOX_JOB = "outbox"
RETENTION_INTERVAL_SECONDS = 3600
MEMBERSHIP_REFRESH_MAX_SECONDS = 30.0
# A re-sweep for a file waiting only for min_file_age comes this much after it is old
# enough, so that it is taken then for sure (and the finishing run has returned).
READY_MARGIN_SECONDS = 0.05


def _job_id(customer_id: str) -> str:
    return f"poll:{customer_id}"


def run_service(service: Service, *, health: bool = True) -> None:
    """Run until SIGTERM/SIGINT (or ``service.stop`` is set by the caller)."""
    settings = service.settings
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(settings.workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=UTC,
    )
    # First thing: a SIGTERM during start-up must also end in a clean stop.
    install_signal_handlers(service.stop)
    with ExitStack() as stack:
        now = datetime.now(UTC)
        wakes = Wakes(scheduler)
        # Replicas on PostgreSQL divide the accounts; a dead one's share is taken over
        # at the next refresh (then swept at its next interval).
        refresh = min(max(settings.poll_interval_seconds, 1.0), MEMBERSHIP_REFRESH_MAX_SECONDS)
        membership = Membership(service.store.engine, refresh_seconds=refresh)
        stack.callback(membership.close)
        for account in service.accounts.values():
            scheduler.add_job(
                sweep_job(scheduler, account, wakes, membership),
                poll_trigger(account.customer.id, settings.poll_interval_seconds),
                id=_job_id(account.customer.id),
                next_run_time=now,  # first sweep at once: resumes unfinished uploads
            )
        scheduler.add_job(
            service.outbox.flush,
            "interval",
            seconds=OUTBOX_INTERVAL_SECONDS,
            id=OUTBOX_JOB,
            next_run_time=now,  # emails queued before a restart go out at once
        )
        scheduler.add_job(
            sweep_retention,
            "interval",
            # A replica expires only the accounts it owns.
            args=[service.accounts.values(), membership.owns],
            seconds=RETENTION_INTERVAL_SECONDS,
            id="retention",
            next_run_time=now,
        )
        if health and settings.metrics_port is not None:
            server = HealthServer(port=settings.metrics_port, host=settings.metrics_host)
            server.add_check("state database reachable", service.store.ping)
            server.add_check("scheduler running", lambda: scheduler.running)
            server.start()
            stack.callback(server.stop)
        scheduler.start()
        stack.callback(_shutdown, scheduler, service)
        if service.email is not None:
            # The mailbox (SPEC 11) in its own thread: an IDLE blocks it between messages.
            mailbox = threading.Thread(target=service.email.run, name="mailbox")
            mailbox.start()
            stack.callback(mailbox.join, settings.shutdown_deadline_seconds)
        for account in service.accounts.values():
            source = account.customer.source
            if isinstance(source, LocalSourceConfig) and source.watch:
                # A finished local file: sweep now instead of at the next interval.
                job_id = _job_id(account.customer.id)
                watcher = watch_upload(source, partial(wakes.wake, job_id))
                stack.callback(watcher.stop)
        log.info("service.started", customers=len(service.accounts))
        # Wake up now and then: a signal is handled on the main thread only between
        # bytecodes, and an untimed wait may never give it that chance.
        while not service.stop.wait(0.5):
            pass
        log.info("service.stopping")
    log.info("service.stopped")


class PhaseTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler has no type hints
    """Fires every ``interval`` seconds at ``offset`` seconds into each interval (counted
    from the epoch): one interval apart, whenever the job last ran.

    APScheduler's interval trigger adds its jitter to the previous fire time, already
    jittered, so the gaps wander (60 to 75 s for 60 s and a 15 s jitter); here the jitter
    is each account's fixed phase. A run moved earlier (a watcher's wake-up) is followed
    by the next point of the same grid. Whole microseconds: no rounding ever repeats a
    fire time.
    """

    def __init__(self, interval: float, offset: float) -> None:
        self.interval_us = max(round(interval * 1_000_000), 1)
        self.offset_us = round(offset * 1_000_000) % self.interval_us

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            # The first point at or after now.
            ticks = -((self.offset_us - _micros(now)) // self.interval_us)
        else:
            ticks = (_micros(previous_fire_time) - self.offset_us) // self.interval_us + 1
        return _EPOCH + timedelta(microseconds=ticks * self.interval_us + self.offset_us)

    def __repr__(self) -> str:
        return (
            f"PhaseTrigger(interval={self.interval_us / 1e6:g}s, offset={self.offset_us / 1e6:g}s)"
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def phase(customer_id: str, interval: float) -> float:
    """The account's fixed offset within the interval, the same in every process and
    replica (a hash of its id), spread evenly over the accounts."""
    fraction = int.from_bytes(hashlib.sha256(customer_id.encode()).digest()[:8], "big") / 2**64
    return fraction * interval


def poll_trigger(customer_id: str, interval: float) -> PhaseTrigger:
    return PhaseTrigger(interval, phase(customer_id, interval))


class Wakes:
    """Watcher wake-ups, kept per sweep job until that job's next run starts.

    A wake-up that arrives while the account is being swept cannot start a run
    (``max_instances=1``: APScheduler skips it), yet that sweep may have listed the folder
    before the file landed. So the wake-up waits here, and when the running sweep has
    ended (its instance released) the job runs again at once.
    """

    def __init__(self, scheduler: BackgroundScheduler) -> None:
        self._scheduler = scheduler
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        scheduler.add_listener(self._after_run, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    def wake(self, job_id: str) -> None:
        with self._lock:
            self._pending.add(job_id)
        _run_soon(self._scheduler, job_id)

    def starting(self, job_id: str) -> None:
        """The job is about to list the folder: it sees every file woken for so far."""
        self._take(job_id)

    def _after_run(self, event: JobExecutionEvent) -> None:
        if self._take(event.job_id):
            _run_soon(self._scheduler, event.job_id)

    def _take(self, job_id: str) -> bool:
        with self._lock:
            pending = job_id in self._pending
            self._pending.discard(job_id)
            return pending


def sweep_job(
    scheduler: BackgroundScheduler,
    account: Account,
    wakes: Wakes,
    membership: Membership | None = None,
) -> Callable[[], None]:
    """The account's interval job: sweep it if this replica owns it (its emails go out
    with its files), and sweep again as soon as a waiting file is old enough."""
    job_id = _job_id(account.customer.id)

    def sweep() -> None:
        wakes.starting(job_id)
        if membership is not None and not membership.owns(account.customer.id):
            account.close()  # another replica sweeps it, and keeps the session
            return
        # The sweep hands over the emails it queues itself; the outbox job retries those
        # the mail server did not take.
        result = account.sweep()
        if result.ready_in is not None:
            # A file waits only for min_file_age: sweep again the moment it is old enough,
            # not at the next interval (a watched folder sends no second event for it).
            _run_by(scheduler, job_id, result.ready_in)

    return sweep


def _run_soon(scheduler: BackgroundScheduler, job_id: str) -> None:
    job = scheduler.get_job(job_id)
    if job is not None:
        job.modify(next_run_time=datetime.now(UTC))


def _run_by(scheduler: BackgroundScheduler, job_id: str, seconds: float) -> None:
    """Run the job in ``seconds`` (plus a margin) unless it is due sooner anyway."""
    job = scheduler.get_job(job_id)
    at = datetime.now(UTC) + timedelta(seconds=seconds + READY_MARGIN_SECONDS)
    if job is not None and job.next_run_time is not None and at < job.next_run_time:
        job.modify(next_run_time=at)


def _shutdown(scheduler: BackgroundScheduler, service: Service) -> None:
    service.stop.set()
    done = threading.Event()

    def wait_for_jobs() -> None:
        scheduler.shutdown(wait=True)
        done.set()

    threading.Thread(target=wait_for_jobs, name="shutdown", daemon=True).start()
    if not done.wait(service.settings.shutdown_deadline_seconds):
        log.error(
            "service.shutdown_deadline",
            deadline_s=service.settings.shutdown_deadline_seconds,
            message="the file in hand did not finish in time; it resumes on the next start",
        )
