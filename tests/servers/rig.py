"""An end-to-end rig: a real sshd account, the Phonon stub, an SMTP server, a Service."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from sftp_watcher.config import Settings, settings_from_mapping
from sftp_watcher.service import PassResult, Service
from tests.servers.phonon_stub import PhononStub
from tests.servers.smtp import SmtpTestServer
from tests.servers.sshd import SftpAccount

USER_ID = "129113"
FLOW_ID = "o9vJavuB"
SECRET = "S" * 60 + "cret"
KOLKATA = ZoneInfo("Asia/Kolkata")


def mobile(n: int) -> str:
    """A valid Indian mobile number with country code, different for each n."""
    return f"9198{n:08d}"


def csv_text(*numbers: str, header: str = "tel1,Name") -> str:
    return header + "\n" + "".join(f"{num},Person {i}\n" for i, num in enumerate(numbers))


@dataclass
class Rig:
    account: SftpAccount
    phonon: PhononStub
    smtp: SmtpTestServer
    tmp: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    customer_overrides: dict[str, Any] = field(default_factory=dict)

    def settings(self) -> Settings:
        return settings_from_mapping(self.mapping())

    def write_config(self) -> Path:
        path = self.tmp / "config.yaml"
        path.write_text(yaml.safe_dump(self.mapping()), encoding="utf-8")
        return path

    def mapping(self) -> dict[str, Any]:
        """The configuration as plain data (what a config.yaml would hold)."""
        source = self.account.config.model_dump(mode="json")
        customer = {
            "id": "acme",
            "user_id": USER_ID,
            "emails": ["ops@acme.example"],
            "source": source,
            "flows": [{"id": FLOW_ID, "type": "dialer", "security_id": SECRET}],
            **self.customer_overrides,
        }
        data: dict[str, Any] = {
            "min_file_age_seconds": 0,
            "state_url": f"sqlite:///{self.tmp / 'state.db'}",
            "metrics_port": None,
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
            "customers": [customer],
            **self.overrides,
        }
        # The account and SMTP configs carry no secrets, so their JSON dumps are complete.
        return data

    def drop(self, name: str, content: str | bytes) -> Path:
        path = self.account.upload / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def poll(self) -> PassResult:
        with Service(self.settings()) as service:
            return service.poll_once()

    def listing(self) -> dict[str, list[str]]:
        return {
            folder: sorted(p.name for p in (self.account.dir / folder).iterdir())
            for folder in ("Upload", "Success", "Failure")
        }

    def subjects(self) -> list[str]:
        return [str(m.message["Subject"]) for m in self.smtp.messages]


@pytest.fixture
def rig(
    sftp_account: SftpAccount,
    phonon_stub: PhononStub,
    smtp_server: SmtpTestServer,
    tmp_path: Path,
) -> Iterator[Rig]:
    phonon_stub.register_flow(FLOW_ID, SECRET)
    yield Rig(sftp_account, phonon_stub, smtp_server, tmp_path)


def tomorrow_at(hour: int, minute: int = 0) -> datetime:
    now = datetime.now(UTC).astimezone(KOLKATA)
    return (now + timedelta(days=1)).replace(hour=hour, minute=minute, second=0, microsecond=0)
