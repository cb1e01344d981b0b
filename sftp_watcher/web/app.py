"""The upload page's ASGI application and its request log (``channel=web``), which also
adds the security headers to every answer."""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sftp_watcher.web.context import WebContext, log
from sftp_watcher.web.routes import ROUTES, error_handlers

_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
    "Cache-Control": "no-store",
}


class RequestLog:
    """Logs each request (``web.request``, channel web) and adds the security headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in _HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client")
            log.info(
                "web.request",
                channel="web",
                method=scope["method"],
                path=scope["path"][:200],
                status=status,
                address=client[0] if client else None,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )


def create_app(context: WebContext) -> Starlette:
    app = Starlette(routes=ROUTES, exception_handlers=error_handlers())
    app.state.web = context
    app.add_middleware(RequestLog)
    return app
