"""The operator's view: every metric the Grafana dashboard and the alerting rules use is one
the service's /metrics serves, the Loki queries filter on logged fields, and promtool
accepts the rules and their unit tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sftp_watcher.observability.health import HealthServer
from tests.servers.sshd import unavailable

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "sftp-watcher.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
LOG_EVENTS = Path(__file__).resolve().parents[2] / "docs" / "log-events.md"

# Series Prometheus itself provides for every target.
PROMETHEUS_SERIES = {"up"}
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created", ""),
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
KEYWORDS |= {"and", "or", "unless", "inf", "nan"}


def promql_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression selects.

    Label matchers, strings, range selectors, grouping clauses and function names are cut
    away; what is left of the identifiers names series.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    grouping = r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
    text = re.sub(grouping, " ", text)
    text = re.sub(r"\$\w+", " ", text)  # template variables and $value
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\s*(\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def dashboard_queries(source: str) -> dict[str, list[str]]:
    """PromQL and LogQL expressions of the dashboard, by datasource type."""
    dashboard = json.loads(source)
    queries: dict[str, list[str]] = {"prometheus": [], "loki": []}

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                kind = (target.get("datasource") or panel["datasource"])["type"]
                queries[kind].append(target["expr"])
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    for variable in dashboard["templating"]["list"]:
        found = re.fullmatch(r"label_values\((\w+),\s*\w+\)", variable["query"])
        assert found, variable["query"]
        queries["prometheus"].append(found.group(1))
    return queries


def alert_expressions(source: str) -> list[str]:
    return [rule["expr"] for group in yaml.safe_load(source)["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def served() -> Iterator[set[str]]:
    """Every series name the real /metrics endpoint serves (by family type)."""
    with HealthServer("127.0.0.1", 0) as server:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
    names = set()
    for family in text_string_to_metric_families(body):
        names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
        names |= {sample.name for sample in family.samples}
    yield names


def unserved(expressions: list[str], served: set[str]) -> dict[str, set[str]]:
    missing = {}
    for expr in expressions:
        names = promql_metrics(expr) - served - PROMETHEUS_SERIES
        if names:
            missing[expr] = names
    return missing


def test_the_parser_finds_metric_names_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, host) (rate(a_seconds_bucket{x=~"b|c"}[5m])))'
        " / on (customer) group_left b_total offset 5m and time() - c_timestamp > 2 * 60"
    )

    assert promql_metrics(expr) == {"a_seconds_bucket", "b_total", "c_timestamp"}


def test_every_dashboard_metric_is_served(served: set[str]) -> None:
    queries = dashboard_queries(DASHBOARD.read_text(encoding="utf-8"))

    assert len(queries["prometheus"]) >= 15
    assert unserved(queries["prometheus"], served) == {}


def test_a_panel_on_a_metric_that_is_not_served_is_caught(served: set[str]) -> None:
    source = DASHBOARD.read_text(encoding="utf-8").replace(
        "sftp_watcher_email_queue_depth", "sftp_watcher_email_outbox_depth"
    )

    missing = unserved(dashboard_queries(source)["prometheus"], served)

    assert {name for names in missing.values() for name in names} == {
        "sftp_watcher_email_outbox_depth"
    }


def test_the_dashboard_covers_the_operators_questions() -> None:
    queries = " ".join(dashboard_queries(DASHBOARD.read_text(encoding="utf-8"))["prometheus"])

    for name in (
        "sftp_watcher_files_total",  # files by outcome
        "sftp_watcher_rows_total",  # rows valid / rejected
        "sftp_watcher_phonon_request_duration_seconds_bucket",  # Phonon latency
        "sftp_watcher_phonon_batches_total",  # Phonon codes
        "sftp_watcher_email_queue_depth",  # outbox depth
        "sftp_watcher_email_oldest_pending_age_seconds",  # outbox age
        "sftp_watcher_last_successful_poll_timestamp",  # sweep lag per account
        "sftp_watcher_sftp_errors_total",  # account errors
    ):
        assert name in queries


def test_loki_queries_filter_on_logged_fields() -> None:
    """Each LogQL query parses the JSON lines and filters only on documented fields."""
    documented = set(re.findall(r"^\| `(\w+)`", LOG_EVENTS.read_text(encoding="utf-8"), re.M))
    queries = dashboard_queries(DASHBOARD.read_text(encoding="utf-8"))["loki"]

    assert queries
    used: set[str] = set()
    for query in queries:
        assert '{job="sftp-watcher"} | json' in query, query
        used |= set(re.findall(r"\|\s*(\w+)\s*(?:=~|!~|!=|=)", query))
    assert {"event", "customer"} <= used
    assert used <= documented, used - documented


def test_every_alert_metric_is_served(served: set[str]) -> None:
    expressions = alert_expressions(ALERTS.read_text(encoding="utf-8"))

    assert len(expressions) >= 8
    assert unserved(expressions, served) == {}


def test_an_alert_on_a_misspelt_metric_is_caught(served: set[str]) -> None:
    source = ALERTS.read_text(encoding="utf-8").replace(
        "sftp_watcher_sftp_errors_total", "sftp_watcher_sftp_error_total"
    )

    missing = unserved(alert_expressions(source), served)

    assert {name for names in missing.values() for name in names} == {
        "sftp_watcher_sftp_error_total"
    }


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool not installed (Debian package prometheus)")
    assert found is not None
    return found


@pytest.mark.parametrize(
    "args", [["check", "rules", "alerts.yaml"], ["test", "rules", "alerts.test.yaml"]], ids=str
)
def test_promtool_accepts_the_rules_and_their_unit_tests(args: list[str]) -> None:
    result = subprocess.run(
        [promtool(), *args],
        cwd=ALERTS.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A threshold moved past the test's figures makes `promtool test rules` fail."""
    shutil.copy(ALERTS.parent / "alerts.test.yaml", tmp_path)
    (tmp_path / "alerts.yaml").write_text(
        ALERTS.read_text(encoding="utf-8").replace("> 3600", "> 36000"), encoding="utf-8"
    )

    result = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "SftpWatcherOutboxOld" in result.stdout + result.stderr
