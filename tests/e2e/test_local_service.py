"""The embedded defaults and local-folder mode: demo, watchdog pick-up, metrics and health."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from sftp_watcher import cli
from sftp_watcher.config import settings_from_mapping
from sftp_watcher.demo import embedded_mapping, prepare_tree
from sftp_watcher.scheduler import run_service
from sftp_watcher.service import Service


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(predicate, what: str, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_demo_processes_good_partial_and_rejected_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "DRY RUN" in out
    account = tmp_path / "accounts" / "demo"
    success = sorted(p.name for p in (account / "Success").iterdir())
    failure = sorted(p.name for p in (account / "Failure").iterdir())
    assert len([n for n in success if not n.endswith(".errors.csv")]) == 2
    assert len([n for n in success if n.endswith(".errors.csv")]) == 1
    assert failure == ["C999_o9vJavuB.csv"]
    assert list((account / "Upload").iterdir()) == []
    log = (tmp_path / "phonon-requests.jsonl").read_text(encoding="utf-8")
    requests = [json.loads(line) for line in log.splitlines()]
    assert len(requests) == 2
    assert all(r["body"]["security-id"] == "***" for r in requests)
    assert "0" * 64 not in log
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3
    # The history command reads the same state through the config the demo wrote.
    assert cli.main(["history", "--config", str(tmp_path / "config.yaml"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["outcome"] for r in rows) == ["failure", "success", "success"]


def test_watched_local_folder_is_processed_without_waiting_for_the_sweep(
    tmp_path: Path,
) -> None:
    port = _free_port()
    mapping = embedded_mapping(tmp_path, metrics_port=port)
    mapping.update(poll_interval_seconds=3600, min_file_age_seconds=0)
    account = prepare_tree(tmp_path)
    service = Service(settings_from_mapping(mapping))
    runner = threading.Thread(target=run_service, args=(service,), name="service")
    runner.start()
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _get(base + "/readyz")[0] == 200, "readiness")
        # The first sweep ran at start; from now on only the watcher can wake it within
        # the hour-long interval.
        time.sleep(0.5)
        (account / "Upload" / "C129113_o9vJavuB.csv").write_text(
            "tel1,Name\n918123400001,Asha\n", encoding="utf-8"
        )
        _wait_for((account / "Success" / "C129113_o9vJavuB.csv").exists, "pick-up by watcher")
        # Counted once the email is queued, right after archiving.
        _wait_for(
            lambda: (
                'sftp_watcher_files_total{customer="demo",outcome="accepted"}'
                in _get(base + "/metrics")[1]
            ),
            "the file in the metrics",
        )
        assert _get(base + "/healthz")[0] == 200
    finally:
        service.stop.set()
        runner.join(timeout=30)
        service.close()
    assert not runner.is_alive()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""
