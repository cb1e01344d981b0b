"""The upload page against real parts: SQLite state, the Phonon stub, an SMTP sink."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from sftp_watcher.config import Settings, settings_from_mapping
from sftp_watcher.demo import _mobiles
from sftp_watcher.web.passwords import hash_password
from sftp_watcher.web.server import WebService

ACME_EMAIL, ACME_PASSWORD = "ops@acme.example", "acme password 1"
BETA_EMAIL, BETA_PASSWORD = "ops@beta.example", "beta password 2"
ACME_FLOW, BETA_FLOW = "o9vJavuB", "BetaFlw1"
SECRET = "s" * 64
TZ = ZoneInfo("Asia/Kolkata")


@cache
def _hash(password: str) -> str:
    return hash_password(password)


def web_mapping(tmp_path: Path, phonon_url: str, smtp: Any, **web: Any) -> dict[str, Any]:
    def customer(cid: str, user_id: str, flow: str, email: str, password: str) -> dict[str, Any]:
        return {
            "id": cid,
            "user_id": user_id,
            "emails": [email],
            "source": {"kind": "local", "path": str(tmp_path / "accounts" / cid)},
            "flows": [{"id": flow, "security_id": SECRET}],
            "web_users": [{"email": email, "password_hash": _hash(password)}],
        }

    smtp_config = smtp.config().model_dump(mode="json", exclude_none=True)
    return {
        "state_url": f"sqlite:///{tmp_path / 'state.db'}",
        "duplicate_window_hours": 0,
        "metrics_port": None,
        "limits": {"max_file_bytes": 64 * 1024},
        "phonon": {"realtime_base_url": phonon_url, "timeout_seconds": 5},
        "email": {"backend": "smtp", "smtp": smtp_config},
        "web": {"port": 0, "session_secret": "k" * 32, **web},
        "customers": [
            customer("acme", "129113", ACME_FLOW, ACME_EMAIL, ACME_PASSWORD),
            customer("beta", "555", BETA_FLOW, BETA_EMAIL, BETA_PASSWORD),
        ],
    }


def web_settings(tmp_path: Path, phonon_url: str, smtp: Any, **web: Any) -> Settings:
    return settings_from_mapping(web_mapping(tmp_path, phonon_url, smtp, **web))


def call_list(valid: int, invalid: int = 0, start: int = 0) -> bytes:
    rows = ["tel1,Name"]
    rows += [f"+{n},Asha" for n in _mobiles(valid, start=start)]
    rows += ["12ab,Bad"] * invalid
    return ("\n".join(rows) + "\n").encode()


@dataclass
class Sleeps:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class Page:
    """A test client with the page's helpers."""

    client: httpx.Client
    service: WebService
    sleeps: Sleeps

    def csrf(self, path: str) -> str:
        html = self.client.get(path).text
        match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
        assert match, html
        return match.group(1)

    def sign_in(self, email: str = ACME_EMAIL, password: str = ACME_PASSWORD) -> Any:
        token = self.csrf("/signin")
        return self.client.post(
            "/signin",
            data={"email": email, "password": password, "csrf_token": token},
            follow_redirects=False,
        )

    def upload(
        self,
        data: bytes,
        name: str = "calls.csv",
        flow: str = ACME_FLOW,
        start_time: str = "",
        token: str | None = None,
    ) -> Any:
        token = self.csrf("/upload") if token is None else token
        return self.client.post(
            "/upload",
            data={"flow": flow, "start_time": start_time, "csrf_token": token},
            files={"call_list": (name, data, "text/csv")},
            follow_redirects=False,
        )

    def schedule(self, preview_url: str) -> Any:
        token = self.csrf(preview_url)
        return self.client.post(
            f"{preview_url}/schedule", data={"csrf_token": token}, follow_redirects=False
        )


@pytest.fixture
def make_page(tmp_path: Path, phonon_stub: Any, smtp_server: Any) -> Iterator[Callable[..., Page]]:
    services: list[WebService] = []
    phonon_stub.register_flow(ACME_FLOW, SECRET)
    phonon_stub.register_flow(BETA_FLOW, SECRET)

    clients: list[httpx.Client] = []

    def make(clock: Callable[[], datetime] | None = None, **web: Any) -> Page:
        settings = web_settings(tmp_path, phonon_stub.realtime_url, smtp_server, **web)
        sleeps = Sleeps()
        extra: dict[str, Any] = {"clock": clock} if clock else {}
        service = WebService(settings, sleep=sleeps, **extra)
        services.append(service)
        port = service.start()
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        clients.append(client)
        return Page(client, service, sleeps)

    yield make
    for client in clients:
        client.close()
    for service in services:
        service.stop()


@pytest.fixture
def page(make_page: Callable[..., Page]) -> Page:
    return make_page()


def tomorrow_at_ten() -> str:
    return (datetime.now(TZ) + timedelta(days=1)).strftime("%Y-%m-%dT10:00")
