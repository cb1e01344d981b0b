"""`run` serves the page when `web.port` is set, also with sweep processes (in the parent),
and `run --embedded` has a demo user whose password is in the log."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from structlog.testing import capture_logs

from sftp_watcher.config import settings_from_mapping
from sftp_watcher.demo import DEMO_WEB_EMAIL, announce_web_user, embedded_mapping
from sftp_watcher.web.passwords import verify_password

from .conftest import web_mapping


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_with_processes_serves_the_page_from_the_parent(tmp_path, phonon_stub, smtp_server):
    port = _free_port()
    mapping = web_mapping(tmp_path, phonon_stub.realtime_url, smtp_server, port=port)
    mapping["processes"] = 2
    for customer in mapping["customers"]:
        for folder in ("Upload", "Success", "Failure"):
            (Path(customer["source"]["path"]) / folder).mkdir(parents=True, exist_ok=True)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    with (tmp_path / "run.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sftp_watcher.cli", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    answer = httpx.get(f"http://127.0.0.1:{port}/signin", timeout=2)
                    break
                except httpx.TransportError:
                    assert process.poll() is None, (tmp_path / "run.log").read_text()
                    assert time.monotonic() < deadline, "the page did not come up"
                    time.sleep(0.2)
            assert answer.status_code == 200 and "Sign in" in answer.text
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=60)
    assert code == 0, (tmp_path / "run.log").read_text()
    lines = [json.loads(x) for x in (tmp_path / "run.log").read_text().splitlines() if x]
    serving = [e for e in lines if e["event"] == "web.serving"]
    assert serving[0]["port"] == port and serving[0]["channel"] == "web"


def test_the_embedded_page_has_a_demo_user_whose_password_is_logged(tmp_path):
    mapping = embedded_mapping(tmp_path, metrics_port=None, web_port=8080)
    settings = settings_from_mapping(mapping)
    assert settings.web is not None and settings.web.port == 8080
    assert settings.web.host == "127.0.0.1"
    user = settings.customers[0].web_users[0]
    assert user.email == DEMO_WEB_EMAIL
    with capture_logs() as logs:
        announce_web_user(settings)
    message = next(e["message"] for e in logs if e["event"] == "web.demo_user")
    password = message.rsplit(" ", 1)[1]
    assert "http://127.0.0.1:8080" in message
    assert verify_password(user.password_hash, password)
    assert embedded_mapping(tmp_path, web_port=None).get("web") is None
