"""One sweep of one account: resume unfinished uploads, list Upload/, take every ready file.

The account's lock (state.locks) makes sure one replica sweeps an account at a time;
the claim rename makes a double pick-up impossible even without it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

import structlog

from sftp_watcher.config import CustomerConfig, Settings
from sftp_watcher.errors import (
    ConnectFailed,
    FileNameError,
    SourceError,
    SourceUnavailable,
    StateError,
)
from sftp_watcher.naming import is_not_ready_name, parse_upload_name
from sftp_watcher.observability import metrics
from sftp_watcher.phonon import Trigger
from sftp_watcher.pipeline import Clock, Handover, Pipeline, utc_now
from sftp_watcher.sources.base import Entry, Folder, Source
from sftp_watcher.sources.names import parse_claim_name
from sftp_watcher.state.locks import AccountLocks
from sftp_watcher.state.models import FINAL_STATES, Channel, Upload, UploadState
from sftp_watcher.state.store import Store

log = structlog.get_logger("sftp_watcher.poller")

MAX_BACKOFF_SECONDS = 900.0
# How often (at most 10 polls apart) a sweep asks the database for uploads another, dead
# replica left unfinished where Upload/ does not show them.
RESUME_CHECK_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class SweepResult:
    customer: str
    ran: bool = True  # False: another replica holds the account, or it is backing off
    files_seen: int = 0
    processed: int = 0
    waiting: int = 0  # files not ready yet (too young, still growing)
    error: str | None = None  # the account could not be reached
    # Seconds until the first file that waits only for min_file_age is old enough (None:
    # no such file): `run` sweeps again then rather than at the next interval.
    ready_in: float | None = None


def is_ready(
    entry: Entry, now: datetime, min_age_seconds: float, clock_skew_seconds: float = 0.0
) -> bool:
    """SPEC 2: a plain file, not a temporary or dot name, untouched for long enough.

    mtimes come from the server's clock; ``clock_skew_seconds`` (server minus ours, as
    setup-test measured it) converts our clock to the server's.
    """
    if entry.kind != "file" or is_not_ready_name(entry.name):
        return False
    return now.timestamp() + clock_skew_seconds - entry.mtime >= min_age_seconds


def _is_text(name: str) -> bool:
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


class Account:
    """A customer's account as the service sees it: its connection, health and sweeps."""

    def __init__(
        self,
        settings: Settings,
        customer: CustomerConfig,
        *,
        source: Source,
        store: Store,
        trigger: Trigger,
        locks: AccountLocks,
        stop: threading.Event,
        clock: Clock = utc_now,
        keep_connection: bool = True,
        handover: Handover | None = None,
    ) -> None:
        self.settings = settings
        # False when more accounts share this server than it has session slots: the
        # session is then released after each sweep, or the first accounts to connect
        # would hold every slot for good and starve the others.
        self.keep_connection = keep_connection
        self.customer = customer
        self.source = source
        self.store = store
        self.locks = locks
        self.stop = stop
        self.clock = clock
        self.channel = Channel.LOCAL if customer.source.kind == "local" else Channel.SFTP
        self.pipeline = Pipeline(
            settings, customer, source, store, trigger, clock, handover, self.channel.value
        )
        self._ignored: set[str] = set()  # claim-like names logged once as left alone
        self._log = log.bind(customer=customer.id)
        self._failures = 0
        self._retry_at = 0.0  # monotonic time before which sweeps are skipped
        self._skew: float | None = None  # read once from the server profile
        self._resume_checked_at: float | None = None  # monotonic; None: ask at next sweep

    def sweep(self, *, force: bool = False) -> SweepResult:
        """Process everything ready now. ``force`` ignores the failure backoff (poll-once)."""
        if not force and time.monotonic() < self._retry_at:
            return SweepResult(self.customer.id, ran=False)
        try:
            with self.locks.hold(self.customer.id) as held:
                if not held:
                    return SweepResult(self.customer.id, ran=False)
                return self._sweep_held()
        except StateError as exc:
            # Taking the lock needs the state database too: its outage is the account's
            # outage (one alert, backoff), not an exception that kills the pass.
            self._failed(exc)
            return SweepResult(self.customer.id, error=str(exc))
        finally:
            if not self.keep_connection:
                self.source.close()

    def _sweep_held(self) -> SweepResult:
        started = time.monotonic()
        try:
            with self.store.holding_connection():
                result = self._sweep_reconnecting()
        except (SourceError, StateError) as exc:
            self._failed(exc)
            return SweepResult(self.customer.id, error=str(exc))
        self._recovered()
        duration = time.monotonic() - started
        metrics.observe_poll(self.customer.id, duration)
        metrics.mark_successful_poll(self.customer.id, self.clock())
        # An idle sweep (most of them: hundreds of accounts, every poll interval) is
        # logged at debug level; the metrics above still count it.
        emit = self._log.info if result.files_seen or result.processed else self._log.debug
        emit(
            "poll.finished",
            files_seen=result.files_seen,
            processed=result.processed,
            waiting=result.waiting,
            duration_ms=round(duration * 1000),
        )
        return result

    def _sweep_reconnecting(self) -> SweepResult:
        """A sweep, run again once on a new connection if the kept one turns out dead.

        Servers (their idle timeout) and NAT gateways drop idle sessions between two
        sweeps, and the client may learn it only at its next request. That is no outage:
        reconnect at once instead of alerting and backing off. Every step of an upload
        resumes where it stopped, so running the sweep again is safe.
        """
        try:
            return self._sweep_locked()
        except SourceUnavailable as exc:
            # ConnectFailed: this sweep's own connection failed, nothing stale about it.
            if isinstance(exc, ConnectFailed) or not self.keep_connection or self._failures:
                raise
            self._log.info("sftp.reconnecting", error=str(exc))
            self.source.close()
            return self._sweep_locked()

    def close(self) -> None:
        self.source.close()

    def _sweep_locked(self) -> SweepResult:
        self.source.open()
        processed = 0
        entries = self.source.list(Folder.UPLOAD)
        if self._may_have_unfinished(entries):
            self._resume_checked_at = time.monotonic()
            for upload in self.store.unfinished(self.customer.id, channels=(self.channel,)):
                if self.stop.is_set():
                    break
                self._log.info("upload.resumed", upload_id=upload.id, state=upload.state)
                if not self._finished(self.pipeline.run(upload)):
                    self._resume_checked_at = None
                processed += 1
        self._adopt_orphan_claims(entries)
        now = self.clock()
        min_age = self.settings.min_file_age_seconds
        skew = self._clock_skew()
        ready = sorted(
            (e for e in entries if is_ready(e, now, min_age, skew)), key=lambda e: e.mtime
        )
        candidates = [e for e in entries if e.kind == "file" and not is_not_ready_name(e.name)]
        left = {e.name: e for e in candidates}
        for entry in ready:
            if self.stop.is_set():
                break
            if not _is_text(entry.name):
                # Not valid UTF-8 (a local folder's raw bytes): no record, email or
                # report can carry it. Left alone, logged once; the others go on.
                if entry.name not in self._ignored:
                    self._ignored.add(entry.name)
                    self._log.warning("file.name_not_utf8", file=ascii(entry.name))
                continue
            if not self._unchanged(entry):
                continue
            if self._finished(self.pipeline.run(self.pipeline.start(entry))):
                left.pop(entry.name, None)
            processed += 1
        oldest = min((e.mtime for e in left.values()), default=None)
        metrics.set_oldest_waiting_file_age(
            self.customer.id, now.timestamp() - oldest if oldest is not None else 0.0
        )
        ready_names = {e.name for e in ready}
        ages = [now.timestamp() + skew - e.mtime for e in candidates if e.name not in ready_names]
        return SweepResult(
            self.customer.id,
            files_seen=len(entries),
            processed=processed,
            waiting=len(left),
            ready_in=max(min_age - max(ages), 0.0) if ages else None,
        )

    def _may_have_unfinished(self, entries: list[Entry]) -> bool:
        """Whether to ask the database for uploads to resume (nearly always: no).

        Every unfinished upload shows in Upload/ as a claim name, except in the instant
        around the claim and after the archive move; this process knows its own (it asks
        after any failure), so only another replica's leftovers need the periodic check.
        """
        if self._resume_checked_at is None:
            return True
        if any(parse_claim_name(e.name) is not None for e in entries):
            return True
        period = min(RESUME_CHECK_SECONDS, 10 * self.settings.poll_interval_seconds)
        return time.monotonic() - self._resume_checked_at >= period

    def _clock_skew(self) -> float:
        """The server's clock offset recorded by setup-test's server profile, if any."""
        if self._skew is None:
            profile = self.store.profile(self.customer.id) or {}
            self._skew = float(profile.get("clock_skew_seconds") or 0.0)
        return self._skew

    def _unchanged(self, entry: Entry) -> bool:
        """Re-stat right before claiming: a size or mtime that moved means still uploading."""
        try:
            now_entry = self.source.stat(Folder.UPLOAD, entry.name)
        except SourceError:
            return False
        return (now_entry.size, now_entry.mtime) == (entry.size, entry.mtime)

    def _adopt_orphan_claims(self, entries: list[Entry]) -> None:
        """Take over claims without a record (SPEC 3) when safe: a regular file (as
        listed, never followed) whose embedded name is a valid upload name of this
        account. Anything else is left alone, and logged once."""
        for entry in entries:
            parsed = parse_claim_name(entry.name)
            if parsed is None or entry.name in self._ignored:
                continue
            upload_id, original = parsed
            if self.store.get(upload_id) is not None:
                continue
            why = self._not_adoptable(entry, original)
            if why is not None:
                self._ignored.add(entry.name)
                self._log.warning("claim.ignored", claim=entry.name, kind=entry.kind, why=why)
                continue
            upload = self.pipeline.adopt(upload_id, original, entry)
            self.pipeline.run(upload)

    def _not_adoptable(self, entry: Entry, original: str) -> str | None:
        if entry.kind != "file":
            return f"not a regular file ({entry.kind})"
        try:
            name = parse_upload_name(original, self.pipeline.rules.timezone)
        except FileNameError:
            return "its embedded name is not an upload name"
        if name.user_id != self.customer.user_id:
            return "its embedded name is not this account's"
        return None

    @staticmethod
    def _finished(upload: Upload) -> bool:
        """The dispatcher contains every upload's failure; one left unfinished waits
        for the next sweep (an error of the source, counted in its attempts)."""
        return UploadState(upload.state) in FINAL_STATES

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        self._resume_checked_at = None  # an upload may have stopped half-way
        delay = min(
            self.settings.poll_interval_seconds * 2 ** (self._failures - 1), MAX_BACKOFF_SECONDS
        )
        self._retry_at = time.monotonic() + delay
        metrics.record_sftp_error(self.customer.id, type(exc).__name__)
        self.source.close()
        if self._failures == 1:  # one alert per outage, not one per poll
            self._log.error(
                "account.unavailable", error=str(exc), kind=type(exc).__name__, retry_in_s=delay
            )
        else:
            self._log.info("poll.failed", error=str(exc), failures=self._failures)

    def _recovered(self) -> None:
        if self._failures:
            self._log.warning("account.recovered", failures=self._failures)
        self._failures = 0
        self._retry_at = 0.0
