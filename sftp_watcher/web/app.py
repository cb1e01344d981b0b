"""The upload page's ASGI application: what every request shares (settings, the door,
sessions, CSRF, the sign-in throttle, templates) and the request log (``channel=web``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sftp_watcher.config import CustomerConfig, Settings, WebConfig, WebUser
from sftp_watcher.web.csrf import SEED_COOKIE, CsrfTokens, new_seed
from sftp_watcher.web.door import WebDoor
from sftp_watcher.web.sessions import COOKIE, Sessions, SignedIn
from sftp_watcher.web.throttle import SignInThrottle

log = structlog.get_logger("sftp_watcher.web")

Sleep = Callable[[float], Awaitable[None]]

_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
    "Cache-Control": "no-store",
}


@dataclass
class WebContext:
    settings: Settings
    web: WebConfig
    door: WebDoor
    sessions: Sessions
    csrf: CsrfTokens
    throttle: SignInThrottle = field(default_factory=SignInThrottle)
    sleep: Sleep = asyncio.sleep
    templates: Environment = field(init=False)
    users: dict[str, tuple[CustomerConfig, WebUser]] = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Environment(
            loader=PackageLoader("sftp_watcher.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.users = {u.email.lower(): (c, u) for c in self.settings.customers for u in c.web_users}

    def customer(self, user: SignedIn) -> CustomerConfig | None:
        return next((c for c in self.settings.customers if c.id == user.customer_id), None)

    def render(
        self, request: Request, name: str, *, status: int = 200, **values: object
    ) -> HTMLResponse:
        """A page with the signed-in user and a CSRF token for its forms; the browser's
        CSRF seed is set on its first page."""
        seed = request.cookies.get(SEED_COOKIE)
        fresh = seed is None or len(seed) > 64
        if fresh:
            seed = new_seed()
        user: SignedIn | None = getattr(request.state, "user", None)
        token = self.csrf.token(seed or "", user.session_id if user else None)
        html = self.templates.get_template(name).render(user=user, csrf_token=token, **values)
        response = HTMLResponse(html, status_code=status)
        if fresh:
            self.set_cookie(response, SEED_COOKIE, seed or "")
        return response

    def set_cookie(self, response: Response, name: str, value: str) -> None:
        response.set_cookie(
            name,
            value,
            httponly=True,
            samesite="lax",
            secure=self.web.secure_cookies,
            path="/",
        )

    def signed_in(self, request: Request) -> tuple[SignedIn, CustomerConfig] | None:
        user = self.sessions.find(request.cookies.get(COOKIE))
        customer = self.customer(user) if user else None
        if user is None or customer is None:
            return None
        request.state.user = user
        return user, customer


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
    from sftp_watcher.web.routes import ROUTES, error_handlers

    app = Starlette(routes=ROUTES, exception_handlers=error_handlers())
    app.state.web = context
    app.add_middleware(RequestLog)
    return app


def build_context(settings: Settings, door: WebDoor, **extra: object) -> WebContext:
    """The context for ``settings.web`` (which must be set, with its session secret)."""
    web = settings.web
    if web is None or web.session_secret is None:
        raise ValueError("web.session_secret is needed to serve the upload page")
    secret = web.session_secret.get_secret_value().encode()
    sessions = Sessions(door.store, timedelta(hours=web.session_idle_hours), door.clock)
    return WebContext(settings, web, door, sessions, CsrfTokens(secret), **extra)  # type: ignore[arg-type]
