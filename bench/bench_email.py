"""100 emailed call lists end to end, against the SFTP end-to-end figure per file.

Issue 17: "100 emailed call lists, end to end, within 3x of the SFTP end-to-end figure per
file on the same machine". Both are measured here, in the same run and the same service
(one process, `poll-once` passes): 100 files across 10 SFTP accounts, then 100 messages
with one attachment each in a real Dovecot mailbox (delivered by APPEND beforehand, not
timed): each read, recorded, staged, judged, triggered, archived, answered and moved. The
Phonon stub and the SMTP sink run in a process of their own.
"""

from __future__ import annotations

import itertools
import tempfile
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from bench._peers import peer_servers
from bench._servers import (
    call_list,
    emit,
    file_name,
    quiet_logs,
    settings_mapping,
    sftp_customers,
    sshd_server,
    timed,
)
from sftp_watcher.config import settings_from_mapping
from sftp_watcher.service import Service
from tests.servers.dovecot import DovecotServer, find_dovecot, imap_config
from tests.servers.rig import FLOW_ID

ACCOUNTS = 10
FILES = 100
ROUNDS = 3
TARGET = 3.0
SENDER = "ops@acct000.example"


def _message(n: int) -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = f"uploads+{FLOW_ID}@phonon.example"
    message["Subject"] = f"calls {n}"
    message["Message-ID"] = make_msgid(domain="acct000.example")
    message["Authentication-Results"] = (
        "mx.phonon.example; dkim=pass header.d=acct000.example; dmarc=pass"
    )
    message.set_content("Please schedule these calls.")
    name = file_name(n).split("_upload_")[1]
    message.add_attachment(call_list(n), "text", "csv", filename=f"upload_{name}")
    return bytes(message)


def main(rounds: int = ROUNDS) -> None:
    binary = find_dovecot()
    if binary is None:
        raise RuntimeError("the email benchmark needs Dovecot (dovecot-imapd)")
    numbers = itertools.count(1)
    with (
        tempfile.TemporaryDirectory(prefix="bench-email-") as tmp,
        sshd_server() as sshd,
        peer_servers() as peers,
    ):
        root = Path(tmp)
        root.chmod(0o755)  # Dovecot's unprivileged processes reach its folder through it
        (root / "dovecot").mkdir()
        dovecot = DovecotServer(root / "dovecot", binary)
        dovecot.start()
        try:
            user = dovecot.add_user()
            customers = sftp_customers(sshd, ACCOUNTS)
            customers[0]["email_senders"] = [SENDER]
            for i, other in enumerate(customers[1:], 1):  # one flow id, so addresses of their own
                other["flows"][0]["email_address"] = f"uploads-{i}@phonon.example"
            imap = imap_config(user).model_dump(mode="json") | {"password": user.password}
            mapping = settings_mapping(
                f"sqlite:///{root / 'state.db'}",
                customers,
                phonon=peers,
                smtp=peers.smtp,
                email_upload={
                    "address": "uploads@phonon.example",
                    "imap": imap,
                    "authserv_id": "mx.phonon.example",
                    "spool_dir": str(root / "spool"),
                },
            )
            dirs = [Path(c["source"]["upload_dir"]).parent for c in customers]

            def drop_files() -> None:
                for i in range(FILES):
                    n = next(numbers)
                    upload = dirs[i % ACCOUNTS] / "Upload" / file_name(n)
                    upload.write_bytes(call_list(n))

            def deliver() -> None:
                with user.client() as client:
                    for _ in range(FILES):
                        client.append("INBOX", _message(next(numbers)))

            sftp_times, email_times = [], []
            with quiet_logs(), Service(settings_from_mapping(mapping)) as service:
                drop_files()
                deliver()
                service.poll_once()  # warm-up: connections open, code paths warm
                for _ in range(rounds):
                    drop_files()
                    sftp_times.append(timed(service.poll_once))
                    deliver()
                    email_times.append(timed(service.poll_once))
                    if user.uids("INBOX"):
                        raise RuntimeError("the service left messages in the mailbox")
            answered = len(user.uids("Success"))
        finally:
            dovecot.stop()
        emails, calls = peers.received()
    sftp, mail = min(sftp_times) / FILES, min(email_times) / FILES
    ratio = mail / sftp
    emit(
        f"email: {FILES} emailed lists, best of {rounds}: {mail * 1000:.1f} ms a file vs "
        f"SFTP end to end {sftp * 1000:.1f} ms a file (same run, one process) = {ratio:.1f}x "
        f"(target <= {TARGET:g}x) {'OK' if ratio <= TARGET else 'MISSED'}; "
        f"{answered} messages in Success, {emails} emails, {calls} calls in all"
    )


if __name__ == "__main__":
    main()
