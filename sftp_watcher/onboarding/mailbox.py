"""setup-test's mailbox checks (SPEC 11), when the email channel is on: login, the folder
read and the three outcome folders (created with ``--create-folders``), and a probe message
appended, moved and deleted, away from the folder the service reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from email.mime.text import MIMEText
from email.utils import format_datetime

from sftp_watcher.config import CustomerConfig, Settings
from sftp_watcher.errors import MailboxError, MailboxLoginFailed
from sftp_watcher.mailbox.imap import OUTCOME_FOLDERS, Mailbox
from sftp_watcher.mailbox.routing import flow_addresses
from sftp_watcher.onboarding.report import Check

LOGIN = "mailbox login"
PROBE = "mailbox probe"
_PROBE_HEADER = "X-Sftp-Watcher-Probe"


def check_mailbox(
    settings: Settings, customer: CustomerConfig, *, create_folders: bool, now: datetime
) -> list[Check]:
    upload = settings.email_upload
    if upload is None:
        return []
    imap = upload.imap
    checks = [_senders(settings, customer)]
    folder_names = [f"mailbox folder {name}" for name in (imap.folder, *OUTCOME_FOLDERS)]
    box = Mailbox(imap)
    try:
        box.open(select=False)
    except MailboxLoginFailed as exc:
        fix = "Check email_upload.imap.username and password with the mailbox's owner."
        return [*checks, Check.failed(LOGIN, str(exc), fix), *_skipped(folder_names)]
    except MailboxError as exc:
        fix = "Check email_upload.imap host, port, security and ca_file; is the server up?"
        return [*checks, Check.failed(LOGIN, str(exc), fix), *_skipped(folder_names)]
    try:
        where = f"{imap.username}@{imap.host}:{imap.port} ({imap.security})"
        checks.append(Check.passed(LOGIN, f"logged in as {where}"))
        folders = _folders(box, imap.folder, create=create_folders)
        checks += folders
        if all(c.status.value == "pass" for c in folders):
            checks.append(_probe(box, settings, now))
        else:
            checks.append(Check.skipped(PROBE, "a mailbox folder is missing"))
    finally:
        box.close()
    return checks


def _senders(settings: Settings, customer: CustomerConfig) -> Check:
    mine = sorted(a for a, f in flow_addresses(settings).items() if f.customer is customer)
    if not customer.email_senders:
        return Check.warning(
            "email senders",
            f"flow addresses {', '.join(mine)}; no email_senders: every message is rejected",
            "List who may upload by email under email_senders (addresses or *@domain).",
        )
    detail = f"flow addresses {', '.join(mine)}; senders {', '.join(customer.email_senders)}"
    return Check.passed("email senders", detail)


def _folders(box: Mailbox, read: str, *, create: bool) -> list[Check]:
    existing = {f.lower(): f for f in box.folders()}
    checks = []
    if read.lower() in existing:
        checks.append(Check.passed(f"mailbox folder {read}", "exists (the folder read)"))
    else:
        fix = f"Create {read} on the server, or set email_upload.imap.folder."
        checks.append(Check.failed(f"mailbox folder {read}", "missing", fix))
    for name in OUTCOME_FOLDERS:
        label = f"mailbox folder {name}"
        if name.lower() in existing:
            checks.append(Check.passed(label, "exists"))
        elif create:
            try:
                box.create_missing((name,))
            except MailboxError as exc:
                fix = "Create it by hand, or let the IMAP account create folders."
                checks.append(Check.failed(label, f"could not be created: {exc}", fix))
            else:
                checks.append(Check.passed(label, "created"))
        else:
            fix = "Run setup-test with --create-folders (or let run create it)."
            checks.append(Check.failed(label, "missing", fix))
    return checks


def _probe(box: Mailbox, settings: Settings, now: datetime) -> Check:
    """APPEND to Failure, move to Rejected, delete there: the service's own operations."""
    token = uuid.uuid4().hex
    probe = MIMEText("sftp-watcher setup-test probe; deleted at once.\n")
    probe["From"] = settings.email.from_
    probe["Subject"] = "sftp-watcher setup-test probe"
    probe["Date"] = format_datetime(now)
    probe["Auto-Submitted"] = "auto-generated"
    probe[_PROBE_HEADER] = token
    step = "append"
    try:
        box.append("Failure", bytes(probe))
        step = "move"
        box.select("Failure")
        for uid in box.find(_PROBE_HEADER, token):
            box.move(uid, "Rejected")
        step = "delete"
        box.select("Rejected")
        moved = box.find(_PROBE_HEADER, token)
        if not moved:
            raise MailboxError("the probe was not found in Rejected after the move")
        for uid in moved:
            box.delete(uid)
    except MailboxError as exc:
        fix = "The IMAP account must be allowed to append, move and delete messages."
        return Check.failed(PROBE, f"{step} failed: {exc}", fix)
    return Check.passed(PROBE, "a probe message was appended, moved and deleted")


def _skipped(names: list[str]) -> list[Check]:
    reason = "not logged in"
    return [*(Check.skipped(n, reason) for n in names), Check.skipped(PROBE, reason)]
