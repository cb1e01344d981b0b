"""``sftp-watcher setup-test`` through the CLI entry point: JSON on stdout and the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sftp_watcher.cli import main
from tests.onboarding.helpers import FLOW_ID, SECURITY_ID, local_source, phonon_section
from tests.servers.phonon_stub import PhononStub


def write_config(tmp_path: Path, stub: PhononStub) -> Path:
    config = {
        "state_url": f"sqlite:///{tmp_path / 'state.db'}",
        "metrics_port": None,
        "phonon": phonon_section(stub),
        "customers": [
            {
                "id": "x",
                "user_id": "129113",
                "emails": ["ops@x.example"],
                "source": local_source(tmp_path / "x"),
                "flows": [{"id": FLOW_ID, "security_id": SECURITY_ID}],
            }
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_cli(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main(["setup-test", "--customer", "x", "--json", "--config", str(config)])
    return code, json.loads(capsys.readouterr().out)


def test_cli_prints_json_and_exits_0_when_every_check_passes(
    tmp_path: Path, phonon_stub: PhononStub, capsys: pytest.CaptureFixture[str]
) -> None:
    phonon_stub.register_flow(FLOW_ID, SECURITY_ID)
    code, report = run_cli(write_config(tmp_path, phonon_stub), capsys)
    assert code == 0
    assert report["customer"] == "x"
    assert report["ok"] is True
    assert isinstance(report["checks"], list)
    assert {c["status"] for c in report["checks"]} <= {"pass", "skip"}


def test_cli_exits_1_when_a_check_fails(
    tmp_path: Path, phonon_stub: PhononStub, capsys: pytest.CaptureFixture[str]
) -> None:
    # No flow registered at the stub: 301 Invalid Flow ID.
    code, report = run_cli(write_config(tmp_path, phonon_stub), capsys)
    assert code == 1
    assert report["ok"] is False


def test_cli_exits_2_for_a_bad_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("customers:\n  - id: x\n    flows: []\n")
    code = main(["setup-test", "--customer", "x", "--json", "--config", str(path)])
    assert code == 2
    assert capsys.readouterr().out == ""


def test_cli_exits_2_for_an_unknown_customer(
    tmp_path: Path, phonon_stub: PhononStub, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, phonon_stub)
    code = main(["setup-test", "--customer", "nobody", "--config", str(config)])
    assert code == 2
    assert "nobody" in capsys.readouterr().err
