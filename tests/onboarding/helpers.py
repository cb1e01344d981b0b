"""Settings builders and assertions shared by the setup-test tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sftp_watcher.config import Settings, settings_from_mapping
from sftp_watcher.onboarding import SetupReport
from sftp_watcher.onboarding.folders import PROBE_PREFIX
from tests.servers.phonon_stub import PhononStub

FLOW_ID = "o9vJavuB"
SECURITY_ID = "S" * 40 + "ecret-security-id-0123456789"  # 68 chars: easy to spot if it leaks
SENDER = "uploads@example.com"


def phonon_section(stub: PhononStub, **overrides: Any) -> dict[str, Any]:
    return {
        "realtime_base_url": stub.realtime_url,
        "bulk_base_url": stub.bulk_url,
        "timeout_seconds": 5,
        **overrides,
    }


def make_settings(
    tmp_path: Path,
    source: dict[str, Any],
    stub: PhononStub,
    *,
    flows: list[dict[str, Any]] | None = None,
    emails: list[str] | None = None,
    smtp: dict[str, Any] | None = None,
    phonon: dict[str, Any] | None = None,
) -> Settings:
    return settings_from_mapping(
        make_mapping(tmp_path, source, stub, flows=flows, emails=emails, smtp=smtp, phonon=phonon)
    )


def make_mapping(
    tmp_path: Path,
    source: dict[str, Any],
    stub: PhononStub,
    *,
    flows: list[dict[str, Any]] | None = None,
    emails: list[str] | None = None,
    smtp: dict[str, Any] | None = None,
    phonon: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The configuration ``make_settings`` validates, as a YAML file would hold it."""
    return {
        "state_url": f"sqlite:///{tmp_path / 'state.db'}",
        "phonon": phonon_section(stub, **(phonon or {})),
        "email": {
            "backend": "smtp",
            "from": f"Phonon Uploads <{SENDER}>",
            "smtp": smtp or {"host": "127.0.0.1", "port": 9, "security": "none"},
        },
        "customers": [
            {
                "id": "acme",
                "user_id": "129113",
                "emails": ["ops@acme.example"] if emails is None else emails,
                "source": source,
                "flows": flows or [{"id": FLOW_ID, "security_id": SECURITY_ID}],
            }
        ],
    }


def local_source(root: Path) -> dict[str, Any]:
    for folder in ("Upload", "Success", "Failure"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return {"kind": "local", "path": str(root)}


def by_name(report: SetupReport) -> dict[str, dict[str, str]]:
    checks = report.to_json()["checks"]
    return {c["name"]: c for c in checks}


def statuses(report: SetupReport) -> dict[str, str]:
    return {name: c["status"] for name, c in by_name(report).items()}


def assert_no_probe_left(*folders: Path) -> None:
    for folder in folders:
        if folder.is_dir():
            left = [p.name for p in folder.iterdir() if p.name.startswith(PROBE_PREFIX)]
            assert left == [], f"probe files left in {folder}: {left}"


def output_of(report: SetupReport) -> str:
    """Everything the command can print, both forms."""
    return json.dumps(report.to_json()) + "\n" + report.render_text()
