"""An email rig: the real Dovecot mailbox, the Phonon stub, the SMTP sink, a Service."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
import yaml

from sftp_watcher.config import Settings, settings_from_mapping
from sftp_watcher.mailbox.ledger import Ledger, MailMessage
from sftp_watcher.service import Service
from sftp_watcher.state.store import Store
from tests.servers.dovecot import MailUser, imap_config
from tests.servers.phonon_stub import PhononStub
from tests.servers.rig import FLOW_ID, SECRET, USER_ID, csv_text, mobile
from tests.servers.smtp import SmtpTestServer

SENDER = "ops@acme.example"
FLOW_ADDRESS = f"uploads+{FLOW_ID}@phonon.example"
AUTHSERV = "mx.phonon.example"

__all__ = ["FLOW_ADDRESS", "FLOW_ID", "SENDER", "USER_ID", "EmailRig", "csv_text", "mobile"]


@dataclass
class EmailRig:
    mailbox: MailUser
    phonon: PhononStub
    smtp: SmtpTestServer
    tmp: Path
    overrides: dict[str, Any] = field(default_factory=dict)

    def mapping(self) -> dict[str, Any]:
        imap = imap_config(self.mailbox).model_dump(mode="json")
        imap["password"] = self.mailbox.password
        return {
            "state_url": f"sqlite:///{self.tmp / 'state.db'}",
            "metrics_port": None,
            "poll_interval_seconds": 1,
            "duplicate_window_hours": 0,
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
            "email_upload": {
                "address": "uploads@phonon.example",
                "imap": imap,
                "authserv_id": AUTHSERV,
                "spool_dir": str(self.tmp / "spool"),
            },
            "customers": [
                {
                    "id": "acme",
                    "user_id": USER_ID,
                    "emails": ["holder@acme.example"],
                    "source": {"kind": "local", "path": str(self.tmp / "sftp"), "watch": False},
                    "flows": [{"id": FLOW_ID, "type": "dialer", "security_id": SECRET}],
                    "email_senders": [SENDER, "*@calls.acme.example"],
                }
            ],
            **self.overrides,
        }

    def settings(self) -> Settings:
        return settings_from_mapping(self.mapping())

    def write_config(self) -> Path:
        path = self.tmp / "config.yaml"
        path.write_text(yaml.safe_dump(self.mapping()), encoding="utf-8")
        return path

    def poll(self) -> None:
        with Service(self.settings()) as service:
            service.poll_once()

    def deliver(self, message: EmailMessage) -> int:
        return self.mailbox.append(bytes(message))

    def ledger(self) -> list[MailMessage]:
        store = Store.open(self.settings().state_url)
        try:
            return Ledger(store).all()
        finally:
            store.close()

    def answers(self) -> list[EmailMessage]:
        return [m.message for m in self.smtp.messages if SENDER in m.rcpt_tos]

    def holder_emails(self) -> list[EmailMessage]:
        return [m.message for m in self.smtp.messages if "holder@acme.example" in m.rcpt_tos]

    def folder(self, name: str) -> list[int]:
        return self.mailbox.uids(name)


def upload_message(
    *attachments: tuple[str, bytes],
    sender: str = SENDER,
    to: str = FLOW_ADDRESS,
    authenticated: str | None = AUTHSERV,
    html_only: bool = False,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A customer's upload: the attachments, trusted by ``authenticated``'s header."""
    message = EmailMessage()
    message["From"] = f"Ops <{sender}>"
    message["To"] = to
    message["Subject"] = "call list"
    message["Message-ID"] = make_msgid(domain="acme.example")
    if authenticated is not None:
        domain = sender.rpartition("@")[2]
        message["Authentication-Results"] = (
            f"{authenticated}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}"
        )
    for name, value in (headers or {}).items():
        message[name] = value
    if html_only:
        message.set_content("<p>Please schedule these calls</p>", subtype="html")
    else:
        message.set_content("Please schedule these calls.")
    for name, data in attachments:
        message.add_attachment(data, "text", "csv", filename=name)
    return message


@pytest.fixture
def email_rig(
    mailbox: MailUser, phonon_stub: PhononStub, smtp_server: SmtpTestServer, tmp_path: Path
) -> Iterator[EmailRig]:
    phonon_stub.register_flow(FLOW_ID, SECRET)
    (tmp_path / "sftp").mkdir()
    for folder in ("Upload", "Success", "Failure"):
        (tmp_path / "sftp" / folder).mkdir()
    yield EmailRig(mailbox, phonon_stub, smtp_server, tmp_path)
