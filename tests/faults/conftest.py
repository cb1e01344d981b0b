"""Helpers for the fault and replica tests: many accounts, `run` processes, their JSON logs."""

from __future__ import annotations

import io
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from sftp_watcher.config import (
    LocalSourceConfig,
    Settings,
    SftpSourceConfig,
    settings_from_mapping,
)
from sftp_watcher.observability.logs import configure_logging
from tests.servers.phonon_stub import PhononStub
from tests.servers.rig import FLOW_ID, SECRET, csv_text, mobile, tomorrow_at
from tests.servers.sftp_process import SftpHost
from tests.servers.smtp import SmtpTestServer
from tests.servers.sshd import SftpAccount, SshdServer, _descendants, find_sshd

_numbers = itertools.count(1)
_stamps = itertools.count(1)
_names = itertools.count(1)


def unique_numbers(count: int) -> list[str]:
    """Mobile numbers never used before in this test session."""
    return [mobile(next(_numbers)) for _ in range(count)]


def upload_name(user_id: str) -> str:
    """A SPEC 2 name with a distinct start time (tomorrow), so every name is unique."""
    start = tomorrow_at(9) + timedelta(seconds=next(_stamps))
    return f"C{user_id}_{FLOW_ID}_upload_{start:%d%m%Y%H%M%S}.csv"


@dataclass(frozen=True)
class FleetAccount:
    customer_id: str
    user_id: str
    account: SftpAccount

    def drop(self, rows: int = 1) -> tuple[str, list[str]]:
        """Drop a valid list of ``rows`` new numbers; returns its name and numbers."""
        numbers = unique_numbers(rows)
        name = upload_name(self.user_id)
        # Written under a temporary name and renamed, as a careful client does.
        temp = self.account.upload / f"{name}.filepart"
        temp.write_text(csv_text(*numbers), encoding="utf-8")
        temp.rename(self.account.upload / name)
        return name, numbers

    def listing(self) -> dict[str, list[str]]:
        return {
            folder: sorted(p.name for p in (self.account.dir / folder).iterdir())
            for folder in ("Upload", "Success", "Failure")
        }

    def archived(self) -> list[str]:
        listing = self.listing()
        return [n for n in listing["Success"] + listing["Failure"] if not n.endswith(".errors.csv")]


def _source_mapping(config: SftpSourceConfig | LocalSourceConfig) -> dict[str, Any]:
    """The source as config.yaml holds it: JSON dumps mask secrets, the config needs them."""
    source = config.model_dump(mode="json")
    if isinstance(config, SftpSourceConfig) and config.password is not None:
        source["password"] = config.password.get_secret_value()
    return source


@dataclass
class Fleet:
    """Several customers (each its own SFTP account), the Phonon stub and the SMTP server."""

    phonon: PhononStub
    smtp: SmtpTestServer
    tmp: Path
    state_url: str
    accounts: list[FleetAccount] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)

    def add(self, server: SftpHost, **source_overrides: Any) -> FleetAccount:
        number = next(_names)
        name = f"fleet{number}"
        directory = server.add_account(name)
        config = server.source_config(name, **source_overrides)
        account = FleetAccount(
            customer_id=f"cust{number}",
            user_id=str(700_000 + number),
            account=SftpAccount(name=name, dir=directory, config=config),
        )
        self.accounts.append(account)
        return account

    def add_local(self) -> FleetAccount:
        """A customer whose three folders are local (``watch`` off: polls only)."""
        number = next(_names)
        directory = self.tmp / f"local{number}"
        for folder in ("Upload", "Success", "Failure"):
            (directory / folder).mkdir(parents=True)
        config = LocalSourceConfig(path=directory, watch=False)
        account = FleetAccount(
            customer_id=f"cust{number}",
            user_id=str(700_000 + number),
            account=SftpAccount(name=f"local{number}", dir=directory, config=config),
        )
        self.accounts.append(account)
        return account

    def mapping(self) -> dict[str, Any]:
        customers = [
            {
                "id": a.customer_id,
                "user_id": a.user_id,
                "emails": [f"ops@{a.customer_id}.example"],
                "source": _source_mapping(a.account.config),
                "flows": [{"id": FLOW_ID, "type": "dialer", "security_id": SECRET}],
            }
            for a in self.accounts
        ]
        return {
            "poll_interval_seconds": 1,
            "min_file_age_seconds": 0,
            "duplicate_window_hours": 0,
            "state_url": self.state_url,
            "metrics_port": None,
            "shutdown_deadline_seconds": 20,
            "phonon": {
                "realtime_base_url": self.phonon.realtime_url,
                "bulk_base_url": self.phonon.bulk_url,
                "timeout_seconds": 2,
                "retry_budget_seconds": 8,
            },
            "email": {
                "backend": "smtp",
                "from": "Phonon Uploads <uploads@phonon.example>",
                "smtp": self.smtp.config().model_dump(mode="json"),
            },
            "customers": customers,
            **self.overrides,
        }

    def settings(self) -> Settings:
        return settings_from_mapping(self.mapping())

    def write_config(self) -> Path:
        path = self.tmp / "config.yaml"
        path.write_text(yaml.safe_dump(self.mapping()), encoding="utf-8")
        return path

    def message_ids(self) -> list[str]:
        return [str(m.message["Message-ID"]) for m in self.smtp.messages]


@pytest.fixture
def fleet(phonon_stub: PhononStub, smtp_server: SmtpTestServer, tmp_path: Path) -> Iterator[Fleet]:
    """A fleet on SQLite; tests on PostgreSQL set ``state_url`` to ``pg_url``."""
    phonon_stub.register_flow(FLOW_ID, SECRET)
    yield Fleet(phonon_stub, smtp_server, tmp_path, f"sqlite:///{tmp_path / 'state.db'}")


@pytest.fixture
def make_sshd() -> Iterator[Callable[..., SshdServer]]:
    """A private sshd (to kill, freeze or configure) instead of the shared one."""
    sshd_path = find_sshd()
    if sshd_path is None:
        if os.environ.get("SFTP_WATCHER_REQUIRE_SERVICES") == "1":
            pytest.fail("OpenSSH sshd is not installed (SFTP_WATCHER_REQUIRE_SERVICES=1)")
        pytest.skip("OpenSSH sshd is not installed")
    servers: list[SshdServer] = []
    with tempfile.TemporaryDirectory(prefix="sftp-watcher-fault-sshd-") as tmp:

        def make(extra_config: Sequence[str] = ()) -> SshdServer:
            root = Path(tmp) / f"sshd{len(servers)}"
            root.mkdir()
            server = SshdServer(root, sshd_path)
            servers.append(server)
            server.start(extra_config)
            return server

        yield make
        for server in servers:
            server.stop()


def end_sessions(server: SshdServer) -> None:
    """End every session process of ``server`` (the listener stays): an idle timeout's effect."""
    main_pid = int((server.root / "sshd.pid").read_text())
    for pid in _descendants(main_pid):
        os.kill(pid, signal.SIGTERM)


class RunProcess:
    """The real `sftp-watcher run` in a subprocess, its JSON log in a file (a pipe would fill)."""

    def __init__(self, config: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        full_env = {k: v for k, v in os.environ.items() if k != "SFTP_WATCHER_CRASH_AT"}
        full_env.update(env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sftp_watcher.cli", "run", "--config", str(config)],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def events(self) -> list[dict[str, Any]]:
        return json_events(self.log_path.read_text(encoding="utf-8", errors="replace"))

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            pytest.fail(f"run exited early ({self.process.returncode}):\n{tail}")

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=40)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture
def run_process(tmp_path: Path) -> Iterator[Callable[..., RunProcess]]:
    """Factory: ``run_process(config, env=...)``; every process is killed after the test."""
    started: list[RunProcess] = []

    def start(config: Path, env: dict[str, str] | None = None) -> RunProcess:
        process = RunProcess(config, tmp_path / f"run{len(started)}.log", env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


def json_events(text: str) -> list[dict[str, Any]]:
    events = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by SIGKILL
    return events


def count_events(events: list[dict[str, Any]], name: str, **match: Any) -> int:
    return sum(
        1 for e in events if e.get("event") == name and all(e.get(k) == v for k, v in match.items())
    )


@pytest.fixture
def service_log() -> Iterator[io.StringIO]:
    """In-process services log their JSON lines here (what `run` writes to stderr)."""
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    yield stream
    configure_logging("json")


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    message: Callable[[], str] | str,
    *,
    interval: float = 0.2,
    check: Callable[[], None] | None = None,
) -> None:
    """Poll ``condition`` until true; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check is not None:
            check()
        if condition():
            return
        time.sleep(interval)
    text = message() if callable(message) else message
    pytest.fail(f"not reached within {timeout:g} s: {text}")
