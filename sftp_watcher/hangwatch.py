"""Every ready file ends, even one whose processing hangs (SPEC 3).

Every network call has a timeout, so an upload in hand past ``upload_deadline_seconds``
means a bug or a server that trickles; a Python thread cannot be killed. One monitor
thread per process watches the uploads in hand; when one passes its deadline it logs
``upload.hung``, reports to Sentry, counts ``sftp_watcher_uploads_hung_total`` and ends
the process with ``EXIT_HUNG``, so that its supervisor starts it again. The restart
counts the attempt (``uploads.attempts``): an upload that hangs ``MAX_ATTEMPTS`` times is
failed to Failure/ with its email, and the other uploads go on.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import structlog

from sftp_watcher.errors import UploadHung
from sftp_watcher.observability import metrics
from sftp_watcher.observability.sentry import capture, close_sentry, sentry_scope

__all__ = ["EXIT_HUNG", "Watch", "watching"]

# The exit code of a process that ended itself because an upload hung (README, SPEC 10).
EXIT_HUNG = UploadHung.exit_code
# The stop must not hang itself: the process ends this long after the expiry at the latest.
STOP_BACKSTOP_SECONDS = 10.0
SENTRY_FLUSH_SECONDS = 2.0
# How often the monitor looks: a tenth of the shortest deadline, within these bounds.
_TICK_MIN_SECONDS = 0.05
_TICK_MAX_SECONDS = 1.0

log = structlog.get_logger("sftp_watcher.hangwatch")


@dataclass
class Watch:
    """One upload in hand: where it is, since when, until when."""

    upload_id: str
    customer: str
    file: str
    deadline_seconds: float
    started: float
    step: str = "start"

    def enter(self, step: str) -> None:
        self.step = step

    def overdue(self, now: float) -> bool:
        return now - self.started > self.deadline_seconds


class _Monitor:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: dict[int, Watch] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def add(self, watch: Watch) -> int:
        key = id(watch)
        with self._lock:
            self._watches[key] = watch
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="hangwatch", daemon=True)
                self._thread.start()
        self._wake.set()  # a shorter deadline than those watched so far
        return key

    def remove(self, key: int) -> None:
        with self._lock:
            self._watches.pop(key, None)

    def _loop(self) -> None:
        while True:
            with self._lock:
                watches = list(self._watches.values())
            now = time.monotonic()
            for watch in watches:
                if watch.overdue(now):
                    _expire(watch, now)
            shortest = min((w.deadline_seconds for w in watches), default=_TICK_MAX_SECONDS)
            self._wake.wait(min(max(shortest / 10, _TICK_MIN_SECONDS), _TICK_MAX_SECONDS))
            self._wake.clear()


_monitor = _Monitor()


@contextmanager
def watching(upload_id: str, customer: str, file: str, deadline_seconds: float) -> Iterator[Watch]:
    """Watch one upload while the block runs; ``Watch.enter`` names the step it is in."""
    watch = Watch(upload_id, customer, file, deadline_seconds, time.monotonic())
    key = _monitor.add(watch)
    try:
        yield watch
    finally:
        _monitor.remove(key)


def _expire(watch: Watch, now: float) -> None:
    """Report the hang, then end the process at once (its threads cannot be stopped)."""
    backstop = threading.Timer(STOP_BACKSTOP_SECONDS, os._exit, (EXIT_HUNG,))
    backstop.daemon = True
    backstop.start()
    seconds = round(now - watch.started, 1)
    # Reporting is best effort: the process ends whatever happens here.
    with suppress(Exception):
        log.error(
            "upload.hung",
            customer=watch.customer,
            upload_id=watch.upload_id,
            file=watch.file,
            step=watch.step,
            seconds=seconds,
            deadline_s=watch.deadline_seconds,
            exit_code=EXIT_HUNG,
        )
    with suppress(Exception):
        metrics.record_hung(watch.customer)
    with suppress(Exception), sentry_scope(customer=watch.customer, upload_id=watch.upload_id):
        capture(UploadHung(f"upload {watch.upload_id} hung in step {watch.step} for {seconds:g} s"))
    with suppress(Exception):
        close_sentry(timeout=SENTRY_FLUSH_SECONDS)
    _flush_logs()
    os._exit(EXIT_HUNG)


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        with suppress(Exception):
            handler.flush()
    for stream in (sys.stderr, sys.stdout):
        with suppress(Exception):
            stream.flush()
