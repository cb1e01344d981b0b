"""What every request of the upload page shares: settings, the door, sessions, CSRF, the
sign-in throttle and templates (``WebContext``), and the page's logger."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from sftp_watcher.config import CustomerConfig, Settings, WebConfig, WebUser
from sftp_watcher.web.csrf import SEED_COOKIE, CsrfTokens, new_seed
from sftp_watcher.web.door import WebDoor
from sftp_watcher.web.sessions import COOKIE, Sessions, SignedIn
from sftp_watcher.web.throttle import SignInThrottle

log = structlog.get_logger("sftp_watcher.web")

Sleep = Callable[[float], Awaitable[None]]


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


def build_context(settings: Settings, door: WebDoor, **extra: object) -> WebContext:
    """The context for ``settings.web`` (which must be set, with its session secret)."""
    web = settings.web
    if web is None or web.session_secret is None:
        raise ValueError("web.session_secret is needed to serve the upload page")
    secret = web.session_secret.get_secret_value().encode()
    sessions = Sessions(door.store, timedelta(hours=web.session_idle_hours), door.clock)
    return WebContext(settings, web, door, sessions, CsrfTokens(secret), **extra)  # type: ignore[arg-type]
