"""The embedded defaults: the whole pipeline with no outside server (`make run`, `make demo`).

A local folder tree stands in for the SFTP account, SQLite keeps state, emails become
.eml files and Phonon runs in dry run: requests are recorded, never sent.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
import structlog
import yaml

from sftp_watcher.config import Settings, settings_from_mapping
from sftp_watcher.service import Service
from sftp_watcher.state.urls import masked_url
from sftp_watcher.web.passwords import hash_password

CUSTOMER = "demo"
USER_ID = "129113"
FLOW_ID = "o9vJavuB"
TIMEZONE = ZoneInfo("Asia/Kolkata")


DEMO_WEB_EMAIL = "ops@demo.invalid"


def embedded_mapping(
    base: Path, *, metrics_port: int | None = 9108, web_port: int | None = None
) -> dict[str, Any]:
    """The embedded configuration, as it would be written in a config.yaml. With
    ``web_port``: the upload page too, its demo user's password random per call."""
    base = base.resolve()
    mapping: dict[str, Any] = {
        "poll_interval_seconds": 10,
        "min_file_age_seconds": 1,
        "workers": 2,
        "state_url": f"sqlite:///{base / 'state.db'}",
        "metrics_port": metrics_port,
        "log_format": "console",
        "phonon": {"dry_run": True, "dry_run_log": str(base / "phonon-requests.jsonl")},
        "email": {
            "backend": "file",
            "file_dir": str(base / "outbox"),
            "from": "Phonon Uploads <uploads@demo.invalid>",
        },
        "customers": [
            {
                "id": CUSTOMER,
                "user_id": USER_ID,
                "emails": ["ops@demo.invalid"],
                "source": {"kind": "local", "path": str(base / "accounts" / CUSTOMER)},
                "flows": [
                    {
                        "id": FLOW_ID,
                        "type": "dialer",
                        # Dry run: nothing is sent, so a placeholder secret is enough.
                        "security_id": "0" * 64,
                    }
                ],
            }
        ],
    }
    if web_port is not None:
        password = secrets.token_urlsafe(12)
        mapping["web"] = {
            "host": "127.0.0.1",
            "port": web_port,
            "base_url": f"http://127.0.0.1:{web_port}",
            "session_secret": secrets.token_urlsafe(32),
            "spool_dir": str(base / "spool"),
        }
        mapping["customers"][0]["web_users"] = [
            {"email": DEMO_WEB_EMAIL, "password_hash": hash_password(password)}
        ]
        _DEMO_PASSWORDS[DEMO_WEB_EMAIL] = password
    return mapping


# The demo user's password of this start, to be shown once in the log.
_DEMO_PASSWORDS: dict[str, str] = {}


def announce_web_user(settings: Settings) -> None:
    """Log where the page is and how to sign in (the demo's password is not a secret)."""
    if settings.web is None or settings.web.port is None:
        return
    structlog.get_logger("sftp_watcher.demo").warning(
        "web.demo_user",
        message=f"upload page: {settings.web.base_url} — sign in as {DEMO_WEB_EMAIL} with "
        f"{_DEMO_PASSWORDS.get(DEMO_WEB_EMAIL, '(see the configuration)')}",
    )


def embedded_settings(
    base: Path, *, metrics_port: int | None = 9108, web_port: int | None = None
) -> Settings:
    return settings_from_mapping(
        embedded_mapping(base, metrics_port=metrics_port, web_port=web_port)
    )


def prepare_tree(base: Path) -> Path:
    """Create the demo account's Upload/, Success/ and Failure/; returns the account folder."""
    account = base / "accounts" / CUSTOMER
    for folder in ("Upload", "Success", "Failure"):
        (account / folder).mkdir(parents=True, exist_ok=True)
    return account


def _mobiles(count: int, start: int = 0) -> list[str]:
    example = phonenumbers.example_number_for_type("IN", phonenumbers.PhoneNumberType.MOBILE)
    prefix = str(example.national_number)[:5] if example else "81234"
    base = int(prefix + "00000")
    numbers: list[str] = []
    candidate = base + start
    while len(numbers) < count:
        parsed = phonenumbers.parse(f"+91{candidate}")
        if phonenumbers.is_valid_number(parsed):
            numbers.append(f"91{candidate}")
        candidate += 1
    return numbers


def sample_files(now: datetime) -> dict[str, str]:
    """Three uploads: all good, partly bad, and one naming another account."""
    tomorrow = (now.astimezone(TIMEZONE) + timedelta(days=1)).replace(hour=10, minute=0, second=0)
    good = _mobiles(4)
    partial = _mobiles(3, start=100)
    stamp = tomorrow.strftime("%d%m%Y%H%M%S")
    return {
        f"C{USER_ID}_{FLOW_ID}.csv": "tel1,tel2,Name\n"
        + "".join(f"{n},{good[(i + 1) % 4]},Customer {i + 1}\n" for i, n in enumerate(good)),
        f"C{USER_ID}_{FLOW_ID}_upload_{stamp}.csv": "tel1,Name,starttime\n"
        f"{partial[0]},Asha,\n"
        f"{partial[1]},Ravi,{tomorrow:%Y-%m-%d} 12:30\n"
        "9876543210,No country code,\n"
        "91123,Too short,\n"
        f"{partial[0]},Asha again,\n"
        f"{partial[2]},Meera,08/02/2026 21:12\n",
        f"C999_{FLOW_ID}.csv": f"tel1,Name\n{good[0]},Someone else's list\n",
    }


def run_demo(base: Path) -> str:
    """Drop the sample files, process them once, and say where everything went."""
    account = prepare_tree(base)
    mapping = embedded_mapping(base, metrics_port=None)
    mapping["min_file_age_seconds"] = 0
    config_path = base / "config.yaml"
    config_path.write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    settings = settings_from_mapping(mapping)
    with Service(settings) as service:
        for name, text in sample_files(service.clock()).items():
            (account / "Upload" / name).write_text(text, encoding="utf-8")
        result = service.poll_once()
    lines = [
        "",
        "sftp-watcher demo — Phonon DRY RUN: nothing was sent, requests were recorded.",
        f"  processed {sum(s.processed for s in result.sweeps)} files from {account / 'Upload'}",
    ]
    for folder in ("Success", "Failure"):
        for path in sorted((account / folder).iterdir()):
            lines.append(f"  {folder + '/':9} {path.name}")
    lines += [
        f"  Phonon requests:  {settings.phonon.dry_run_log}",
        f"  emails (.eml):    {settings.email.file_dir}",
        f"  state database:   {masked_url(settings.state_url)}",
        f"  history:          sftp-watcher history --config {config_path}",
        "",
    ]
    return "\n".join(lines)
