"""Serving the upload page: its own state handle, Phonon client and outbox (so it runs
beside one sweep service or several sweep processes alike), and uvicorn in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import TracebackType
from typing import Self

import structlog
import uvicorn
from starlette.applications import Starlette

from sftp_watcher.config import Settings
from sftp_watcher.notify.send import make_sender
from sftp_watcher.outbox import Outbox
from sftp_watcher.phonon import make_client
from sftp_watcher.pipeline import Clock, utc_now
from sftp_watcher.state.store import Store
from sftp_watcher.web.app import create_app
from sftp_watcher.web.context import build_context
from sftp_watcher.web.door import WebDoor

log = structlog.get_logger("sftp_watcher.web")

# How long a stop waits for the requests in flight (uploads being received).
_GRACEFUL_SECONDS = 10


class WebService:
    """The page's parts, owned and closed together; ``start`` serves it on ``web.port``."""

    def __init__(self, settings: Settings, *, clock: Clock = utc_now, **extra: object) -> None:
        self.settings = settings
        self._stack = ExitStack()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        try:
            self.store = Store.open(settings.state_url)
            self._stack.callback(self.store.close)
            trigger = make_client(settings.phonon)
            self._stack.callback(trigger.close)
            self.outbox = Outbox(self.store, make_sender(settings.email), clock)
            self._stack.callback(self.outbox.close)
            self.door = WebDoor(settings, self.store, trigger, self.outbox.handing_over, clock)
            self._stack.callback(self.door.close)  # closed first: its uploads finish
            self.context = build_context(settings, self.door, **extra)
            self.app: Starlette = create_app(self.context)
        except BaseException:
            self._stack.close()
            raise

    def start(self) -> int:
        """Serve in a thread; returns the port (``web.port`` 0: a free one)."""
        web = self.context.web
        config = uvicorn.Config(
            self.app,
            host=web.host,
            port=web.port or 0,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=_GRACEFUL_SECONDS,
            server_header=False,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="web", daemon=True)
        self._thread.start()
        while not server.started:
            if not self._thread.is_alive():
                raise OSError(f"the upload page could not listen on {web.host}:{web.port}")
            self._thread.join(0.05)
        port = int(server.servers[0].sockets[0].getsockname()[1])
        resumed = self.door.resume()
        log.info("web.serving", channel="web", host=web.host, port=port, resumed=resumed)
        return port

    def stop(self) -> None:
        """Stop taking requests, let those in flight end, then finish the uploads in hand."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(_GRACEFUL_SECONDS + 5)
            self._server = self._thread = None
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def serving(settings: Settings) -> Iterator[WebService | None]:
    """The upload page served for the block when ``web.port`` is set (else nothing)."""
    if settings.web is None or settings.web.port is None:
        yield None
        return
    with WebService(settings) as service:
        service.start()
        yield service
