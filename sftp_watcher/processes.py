"""`processes` > 1: one replica's accounts swept by several child processes.

Python runs one thread at a time per process, and a sweep is mostly Python (paramiko,
SQLAlchemy, httpx, the email): with ``workers`` threads a replica uses about one core
however many it has. With ``processes: N`` the replica starts N children, each the whole
service (scheduler, SFTP sessions, Phonon and mail connections) for a share of the
accounts, and stays their supervisor:

- SQLite: the accounts are dealt out to the children (``sftp_watcher.shares``, which divides
  each SFTP server's session cap among them); each child flushes only its accounts'
  emails, so no two children ever touch one account or one email.
- PostgreSQL, ``run``: each child is a replica of its own (a membership slot), so the
  children of all replicas divide the accounts as replicas do.
- The parent runs the email channel (``sftp_watcher.mailbox.parent``) and serves
  ``/metrics`` (the children's, merged by prometheus-client's multiprocess mode),
  ``/healthz`` and ``/readyz``; forwards SIGTERM and waits for each
  child to finish the file in hand; restarts a child that died, with a growing pause.
- A child dies with its parent (``PR_SET_PDEATHSIG``; elsewhere a watch thread); its
  uploads resume at the next start, as after any crash.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Literal

import structlog

from sftp_watcher.config import Settings
from sftp_watcher.errors import ConfigError, SourceError, StateError, UploadHung, WatcherError
from sftp_watcher.passes import PassResult, pending_emails
from sftp_watcher.shares import Share, shares

# The service's modules are imported inside the functions that use them: a child imports
# this module before anything else, and must tie its life to its parent's
# (``_die_with``) before the second or two that importing the service takes.

log = structlog.get_logger("sftp_watcher.processes")

LogFormat = Literal["json", "console"]
# A child is a fresh interpreter: importing the service takes a second or two.
START_TIMEOUT_SECONDS = 120.0
# Pauses before restarting a child that keeps dying (the last one repeats).
RESTART_PAUSES_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
# A child that ran this long before dying starts the pauses over.
HEALTHY_RUN_SECONDS = 60.0
# After the shutdown deadline, how long a child has to exit before it is killed.
KILL_GRACE_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


def _spawn() -> Any:
    # spawn, not fork: the parent may already run threads (a forked lock stays locked).
    return multiprocessing.get_context("spawn")


# -- poll-once --------------------------------------------------------------------------


class SweepProcesses:
    """``settings.processes`` children kept warm for passes: ``poll_once`` as ``Service``'s."""

    def __init__(self, settings: Settings, *, log_format: LogFormat | None = None) -> None:

        from sftp_watcher.mailbox.parent import MailboxService
        from sftp_watcher.state.store import Store

        self.settings = settings
        self._mailbox: MailboxService | None = None
        # Migrated once here, so the children do not race to do it.
        self._store = Store.open(settings.state_url)
        self._children: list[tuple[Share, BaseProcess, Connection]] = []
        try:
            for share in shares(settings):
                ours, theirs = _spawn().Pipe()
                process = _spawn().Process(
                    target=_serve_passes,
                    args=(settings, share, log_format, theirs, os.getpid()),
                    name=f"sftp-watcher-{share.index}",
                    daemon=True,
                )
                process.start()
                theirs.close()
                self._children.append((share, process, ours))
            for _, process, ours in self._children:
                _expect(ours, process, "ready")
            # The email channel runs here, once (sftp_watcher.mailbox.parent says why).
            self._mailbox = None if settings.email_upload is None else MailboxService(settings)
        except BaseException:
            self.close()
            raise

    @property
    def pids(self) -> list[int]:
        return [p.pid for _, p, _ in self._children if p.pid is not None]

    def poll_once(self, customer_id: str | None = None) -> PassResult:
        """One pass of every (or one) account over the children; the merged ``PassResult``."""

        if customer_id is not None:
            self.settings.customer(customer_id)  # raises ConfigError for an unknown one
        asked = [
            (process, ours)
            for share, process, ours in self._children
            if customer_id is None or share.owns(customer_id)
        ]
        for _, ours in asked:
            ours.send(("poll", customer_id))
        results: list[PassResult] = []
        hung: UploadHung | None = None
        for process, ours in asked:
            try:
                results.append(_expect(ours, process, "result"))
            except UploadHung as exc:
                hung = exc  # the other processes' passes are finished first
        if hung is not None:
            raise hung
        by_customer = {s.customer: s for r in results for s in r.sweeps}
        sweeps = tuple(by_customer[c.id] for c in self.settings.customers if c.id in by_customer)
        sent = sum(r.emails_sent for r in results)
        if self._mailbox is not None and customer_id is None:
            mailbox, mailed = self._mailbox.poll_once()
            sweeps, sent = (*sweeps, mailbox), sent + mailed
        return PassResult(sweeps, sent, pending_emails(self._store))

    def close(self) -> None:
        for _, _, ours in self._children:
            with suppress(OSError):  # it died already
                ours.send(("stop", None))
        for _, process, ours in self._children:
            process.join(START_TIMEOUT_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
            ours.close()
        self._children = []
        if self._mailbox is not None:
            self._mailbox.close()
            self._mailbox = None
        self._store.close()

    def __enter__(self) -> SweepProcesses:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _expect(ours: Connection, process: BaseProcess, what: str) -> Any:
    """The child's next message, which must be ``what``; its error is raised here."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS if what == "ready" else None
    while not ours.poll(0.2):
        if not process.is_alive():
            raise _died(process)
        if deadline is not None and time.monotonic() > deadline:
            raise StateError(f"sweep process {process.name} did not start")
    try:
        kind, value = ours.recv()
    except EOFError:
        process.join(START_TIMEOUT_SECONDS)  # its end of the pipe closed: it is ending
        raise _died(process) from None
    if kind == "error":
        raise value
    if kind != what:
        raise StateError(f"sweep process {process.name} answered {kind!r}, not {what!r}")
    return value


def _died(process: BaseProcess) -> WatcherError:
    if process.exitcode == UploadHung.exit_code:
        return UploadHung(f"sweep process {process.name}: an upload hung past its deadline")
    return StateError(f"sweep process {process.name} died (exit code {process.exitcode})")


def _serve_passes(
    settings: Settings,
    share: Share,
    log_format: LogFormat | None,
    control: Connection,
    parent: int,
) -> None:
    """A child of ``SweepProcesses``: its share's service, one pass per request."""
    from sftp_watcher.service import Service

    _become_child(settings, log_format, parent)
    try:
        service = Service(settings, share=share)
    except WatcherError as exc:
        control.send(("error", _portable(exc)))
        return
    with service:
        control.send(("ready", None))
        while (request := control.recv())[0] == "poll":
            try:
                control.send(("result", service.poll_once(request[1])))
            except WatcherError as exc:
                control.send(("error", _portable(exc)))


def _portable(exc: WatcherError) -> WatcherError:
    """``exc`` as the parent can unpickle it, of the class that picks the exit code
    (an error pickles by its message, which some of ours do not take back)."""
    if isinstance(exc, ConfigError):
        return exc
    if isinstance(exc, SourceError):
        return SourceError(str(exc))
    return StateError(str(exc))


# -- run ----------------------------------------------------------------------------------


def run_processes(
    settings: Settings,
    *,
    log_format: LogFormat | None = None,
    stop: threading.Event | None = None,
) -> None:
    """`run` over ``settings.processes`` children until SIGTERM/SIGINT (or ``stop``)."""
    from sftp_watcher.mailbox.parent import mailbox_running
    from sftp_watcher.observability.health import HealthServer
    from sftp_watcher.signals import install_signal_handlers
    from sftp_watcher.state.store import Store

    stop = stop if stop is not None else threading.Event()
    install_signal_handlers(stop)
    with ExitStack() as stack:
        metrics_dir = stack.enter_context(_multiprocess_metrics())
        store = Store.open(settings.state_url)  # migrates once, before the children start
        stack.callback(store.close)
        # On PostgreSQL every child is a replica and sweeps what the membership gives it.
        children = [
            _Child(settings, None if store.shared else share, log_format)
            for share in shares(settings)
        ]
        stack.callback(_stop_all, children, settings.shutdown_deadline_seconds, metrics_dir)
        for child in children:
            child.start()
        # The email channel runs here, once (sftp_watcher.mailbox.parent says why); it
        # stops before the children, so its uploads in hand finish first.
        stack.enter_context(mailbox_running(settings))
        if settings.metrics_port is not None:
            server = HealthServer(
                port=settings.metrics_port,
                host=settings.metrics_host,
                registry=_merged_registry(metrics_dir),
            )
            server.add_check("state database reachable", store.ping)
            server.add_check("sweep processes running", lambda: all(c.alive for c in children))
            server.start()
            stack.callback(server.stop)
        log.info("service.started", customers=len(settings.customers), processes=len(children))
        while not stop.wait(0.5):
            for child in children:
                child.restart_if_dead(metrics_dir)
        log.info("service.stopping")
    log.info("service.stopped")


class _Child:
    """One `run` child: started, watched and restarted (from the main thread only, the
    one whose exit ``PR_SET_PDEATHSIG`` ties the children to)."""

    def __init__(self, settings: Settings, share: Share | None, log_format: LogFormat | None):
        self.settings = settings
        self.share = share
        self.log_format = log_format
        self.process: BaseProcess | None = None
        self._started_at = 0.0
        self._deaths = 0
        self._restart_at: float | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    def start(self) -> None:
        self.process = _spawn().Process(
            target=_run_child,
            args=(self.settings, self.share, self.log_format, os.getpid()),
            name="sftp-watcher-run",
            daemon=True,
        )
        self.process.start()
        self._started_at = time.monotonic()
        self._restart_at = None

    def restart_if_dead(self, metrics_dir: str) -> None:
        process = self.process
        if process is None or process.is_alive():
            return
        now = time.monotonic()
        if self._restart_at is None:
            _forget_metrics(metrics_dir, process.pid)
            if now - self._started_at >= HEALTHY_RUN_SECONDS:
                self._deaths = 0
            pause = RESTART_PAUSES_SECONDS[min(self._deaths, len(RESTART_PAUSES_SECONDS) - 1)]
            self._deaths += 1
            self._restart_at = now + pause
            log.error(
                "process.died",
                pid=process.pid,
                exit_code=process.exitcode,
                restart_in_s=pause,
                message="a sweep process died; its files in hand resume when it restarts",
            )
        if now >= self._restart_at:
            self.start()
            log.info("process.restarted", pid=self.process.pid if self.process else None)


def _run_child(
    settings: Settings, share: Share | None, log_format: LogFormat | None, parent: int
) -> None:
    from sftp_watcher.signals import install_signal_handlers

    stop = threading.Event()
    install_signal_handlers(stop)  # the parent's SIGTERM may come during start-up
    _become_child(settings, log_format, parent)
    from sftp_watcher.scheduler import run_service
    from sftp_watcher.service import Service

    try:
        with Service(settings, share=share, stop=stop) as service:
            if not stop.is_set():
                run_service(service, health=False)
    except WatcherError as exc:
        log.error("process.failed", error=str(exc))
        sys.exit(1)


def _stop_all(children: list[_Child], deadline: float, metrics_dir: str) -> None:
    """SIGTERM to every child (each finishes its file in hand), then wait; kill the late."""
    running = [c.process for c in children if c.process is not None and c.process.is_alive()]
    for process in running:
        if process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    until = time.monotonic() + deadline + KILL_GRACE_SECONDS
    for process in running:
        process.join(max(until - time.monotonic(), 0.0))
        if process.is_alive():
            log.error("process.killed", pid=process.pid, message="did not stop in time")
            process.kill()
            process.join()
        _forget_metrics(metrics_dir, process.pid)


# -- the children's side ------------------------------------------------------------------


def _become_child(settings: Settings, log_format: LogFormat | None, parent: int) -> None:
    """Logs, secrets and Sentry as the parent has them; die with the parent."""
    from sftp_watcher import __version__
    from sftp_watcher.observability.logs import configure_logging, register_settings_secrets
    from sftp_watcher.observability.sentry import init_sentry

    _die_with(parent)
    configure_logging(log_format or settings.log_format, settings.log_level)
    register_settings_secrets(settings)
    init_sentry(settings.sentry_dsn, release=__version__)


def _die_with(parent: int) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        # Not Linux: look for the parent now and then.
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the request above
        os._exit(1)


# -- metrics across processes -------------------------------------------------------------


@contextmanager
def _multiprocess_metrics() -> Iterator[str]:
    """A fresh folder for the children's metric files (prometheus-client reads the
    variable when a child imports it), removed at the end."""
    folder = tempfile.mkdtemp(prefix="sftp-watcher-metrics-")
    previous = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = previous
        shutil.rmtree(folder, ignore_errors=True)


def _merged_registry(folder: str) -> Any:
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return registry


def _forget_metrics(folder: str, pid: int | None) -> None:
    """A dead child's live gauges no longer count (its counters still do)."""
    from prometheus_client.multiprocess import mark_process_dead

    if pid is not None:
        mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]
