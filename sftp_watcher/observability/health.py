"""HTTP endpoint for operations (SPEC 9): ``/metrics``, ``/healthz`` and ``/readyz``.

Served from a daemon thread so that a stuck poll never hides the metrics that would show it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from prometheus_client import CollectorRegistry, generate_latest

from sftp_watcher.errors import ConfigError
from sftp_watcher.observability import metrics
from sftp_watcher.observability.logs import get_logger, scrub_text

# Loopback unless configured (metrics_host): metrics name customers, and nothing on this
# port needs to be reachable from elsewhere unless a scraper or probe is.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9108
# A client that sends nothing for this long is dropped: a half-sent request must not
# hold a handler thread for ever.
REQUEST_TIMEOUT_SECONDS = 5.0
# And however it trickles: a connection still open this long after it was accepted is
# cut (a request sent a byte every few seconds would otherwise never time out).
CONNECTION_DEADLINE_SECONDS = 15.0
# Connections served at once; beyond it a connection is closed at once, unanswered, so
# that a flood costs no more than this many threads.
MAX_HANDLERS = 32

# A check passes by returning True; False or an exception fails it.
ReadinessCheck = Callable[[], bool]

log = get_logger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Finished handler threads are not kept for joining: each would be a leak.
    block_on_close = False
    # socketserver's 5 made a burst of connections wait for SYN retries before being
    # accepted, and so refused or served.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: HealthServer, max_handlers: int) -> None:
        self.owner = owner
        self._slots = threading.BoundedSemaphore(max_handlers)
        self._open: dict[socket.socket, float] = {}  # served connections, by accept time
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def service_actions(self) -> None:
        """Called by ``serve_forever`` between polls: cuts connections past their deadline."""
        cutoff = time.monotonic() - CONNECTION_DEADLINE_SECONDS
        with self._open_lock:
            late = [sock for sock, since in self._open.items() if since < cutoff]
        for sock in late:
            with contextlib.suppress(OSError):  # closed meanwhile
                sock.shutdown(socket.SHUT_RDWR)  # its handler's read or write ends

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            metrics.record_health_refused()
            self.shutdown_request(request)
            return
        with self._open_lock:
            self._open[request] = time.monotonic()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._forget(request)  # no thread started: give the slot back
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: Any) -> None:
        with self._open_lock:
            self._open.pop(request, None)
        self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "sftp-watcher"
    sys_version = ""
    timeout = REQUEST_TIMEOUT_SECONDS  # StreamRequestHandler sets it on the socket

    def do_GET(self) -> None:  # the name http.server dispatches to
        path = self.path.split("?", 1)[0]
        owner = self.server.owner
        if path == "/metrics":
            self._send(HTTPStatus.OK, generate_latest(owner.registry), metrics.CONTENT_TYPE)
        elif path == "/healthz":
            self._send(HTTPStatus.OK, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/readyz":
            failing = owner.failing_checks()
            body = {"ready": not failing, "checks": owner.check_names(), "failing": failing}
            status = HTTPStatus.SERVICE_UNAVAILABLE if failing else HTTPStatus.OK
            self._send(status, json.dumps(body).encode(), "application/json")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # http.server writes every request to stderr as free text; stderr is for JSON lines.
        pass


class HealthServer:
    """Serves the endpoints in a daemon thread; ``port`` is known once started (0: any free one).

    ``start`` and ``stop`` are idempotent; use it as a context manager to be sure of ``stop``.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        registry: CollectorRegistry = metrics.REGISTRY,
        max_handlers: int = MAX_HANDLERS,
    ) -> None:
        self.host = host
        self.max_handlers = max_handlers
        self.port = port
        self.registry = registry
        self._checks: dict[str, ReadinessCheck] = {}
        self._checks_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def add_check(self, name: str, check: ReadinessCheck) -> None:
        """Register (or replace) a readiness check, e.g. "state database reachable"."""
        with self._checks_lock:
            self._checks[name] = check

    def remove_check(self, name: str) -> None:
        with self._checks_lock:
            self._checks.pop(name, None)

    def check_names(self) -> list[str]:
        with self._checks_lock:
            return list(self._checks)

    def failing_checks(self) -> dict[str, str]:
        """Run every check; the failing ones by name with why (secrets scrubbed)."""
        with self._checks_lock:
            checks = list(self._checks.items())
        failing: dict[str, str] = {}
        for name, check in checks:
            try:
                passed = check()
            except Exception as exc:  # a crashing check is a failing check
                failing[name] = scrub_text(f"{type(exc).__name__}: {exc}")
                continue
            if not passed:
                failing[name] = "check returned false"
        return failing

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        try:
            server = _Server((self.host, self.port), self, self.max_handlers)
        except OSError as exc:
            raise ConfigError(
                [f"metrics_port: cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"]
            ) from exc
        self._server = server
        self.port = server.server_address[1]
        # A short poll interval keeps stop() (and so shutdown on SIGTERM) prompt.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.1,), name="health-server", daemon=True
        )
        self._thread.start()
        log.info("health.listening", host=self.host, port=self.port)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
