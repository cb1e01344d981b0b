"""HealthServer: /metrics, /healthz and /readyz over real HTTP on loopback."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sftp_watcher.errors import ConfigError
from sftp_watcher.observability import metrics
from sftp_watcher.observability.health import HealthServer
from sftp_watcher.observability.logs import register_secret


@pytest.fixture
def server() -> Iterator[HealthServer]:
    with HealthServer("127.0.0.1", 0) as running:
        yield running


def get(server: HealthServer, path: str) -> tuple[int, str, bytes]:
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read()


def scraped(server: HealthServer, name: str, **labels: str) -> float:
    status, _, body = get(server, "/metrics")
    assert status == 200
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_started_on_port_zero_exposes_the_real_port(server: HealthServer) -> None:
    assert server.port > 0
    assert server.running


def test_metrics_scraped_over_http_follow_increments(server: HealthServer) -> None:
    series = "sftp_watcher_files_total"
    before = scraped(server, series, customer="h-acme", outcome="partial")

    metrics.record_file("h-acme", "partial")
    metrics.record_file("h-acme", "partial")
    metrics.set_email_queue_depth(7)

    assert scraped(server, series, customer="h-acme", outcome="partial") == before + 2
    assert scraped(server, "sftp_watcher_email_queue_depth") == 7
    _, content_type, _ = get(server, "/metrics")
    assert content_type.startswith("text/plain")


def test_healthz_answers_ok_while_alive(server: HealthServer) -> None:
    server.add_check("always failing", lambda: False)  # liveness ignores readiness

    assert get(server, "/healthz")[::2] == (200, b"ok\n")


def test_readyz_is_503_naming_the_failing_check(server: HealthServer) -> None:
    server.add_check("state database reachable", lambda: True)
    server.add_check("scheduler running", lambda: False)

    status, content_type, body = get(server, "/readyz")

    assert status == 503
    assert content_type == "application/json"
    report = json.loads(body)
    assert report["ready"] is False
    assert set(report["failing"]) == {"scheduler running"}
    assert set(report["checks"]) == {"state database reachable", "scheduler running"}


def test_readyz_is_200_when_every_check_passes(server: HealthServer) -> None:
    server.add_check("state database reachable", lambda: True)
    server.add_check("scheduler running", lambda: False)
    server.add_check("scheduler running", lambda: True)  # replaced by name

    status, _, body = get(server, "/readyz")

    assert status == 200
    assert json.loads(body) == {
        "ready": True,
        "checks": ["state database reachable", "scheduler running"],
        "failing": {},
    }


def test_readyz_with_no_checks_is_ready(server: HealthServer) -> None:
    assert get(server, "/readyz")[0] == 200


def test_a_check_that_raises_fails_with_its_error_scrubbed(server: HealthServer) -> None:
    register_secret("pg-Secret-99")

    def database() -> bool:
        raise ConnectionError("password authentication failed: pg-Secret-99")

    server.add_check("state database reachable", database)

    status, _, body = get(server, "/readyz")

    assert status == 503
    detail = json.loads(body)["failing"]["state database reachable"]
    assert detail == "ConnectionError: password authentication failed: ***"
    assert b"pg-Secret-99" not in body

    server.remove_check("state database reachable")
    assert get(server, "/readyz")[0] == 200


def test_unknown_path_is_404(server: HealthServer) -> None:
    assert get(server, "/admin")[0] == 404


def test_port_in_use_is_a_config_error_naming_metrics_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(ConfigError, match="metrics_port"):
            HealthServer("127.0.0.1", port).start()


def test_stop_releases_the_port_and_is_idempotent() -> None:
    server = HealthServer("127.0.0.1", 0)
    server.start()
    server.start()  # no second listener
    port = server.port

    server.stop()
    server.stop()

    assert not server.running
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
