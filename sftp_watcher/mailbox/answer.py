"""The automatic answer to an uploading sender (RFC 3834), and who never gets one."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart

from sftp_watcher.mailbox.routing import address_of
from sftp_watcher.notify.message import POLICY, address_message, collapse, sender_domain, text_part

_QUIET_PRECEDENCE = frozenset({"bulk", "list", "junk"})


def answerable(message: Message, *, sender: str | None, own: Collection[str]) -> bool:
    """RFC 3834 and loop safety: never answer a machine, a list, or ourselves."""
    if sender is None or sender in own:
        return False
    auto = str(message.get("Auto-Submitted", "no")).split(";")[0].strip().lower()
    if auto != "no":
        return False
    precedence = str(message.get("Precedence", "")).strip().lower()
    return precedence not in _QUIET_PRECEDENCE


@dataclass(frozen=True)
class AnsweredItem:
    """One attachment's part of the answer: the report of SPEC 8, or why it was not taken."""

    name: str
    summary: str  # the account holder's subject line for it
    text: str  # the account holder's plain-text report, or the reason
    errors_csv: bytes | None = None


def render_answer(
    original: Message,
    *,
    key: str,
    sender: str,
    to: str,
    items: Sequence[AnsweredItem],
    problem: str | None,
    now: datetime,
) -> Message:
    """The answer to ``original`` (identified by ``key``): ``Message-ID`` and boundary are
    fixed per message, so a resend after a crash is the same message."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    message = MIMEMultipart("mixed", boundary=f"=_sftp-watcher-answer_{digest}", policy=POLICY)
    message.attach(text_part(_body(items, problem), "plain"))
    for item in items:
        if item.errors_csv is not None:
            errors = MIMEApplication(item.errors_csv, "csv", policy=POLICY)
            errors.replace_header("Content-Type", "text/csv; charset=utf-8")
            errors.add_header(
                "Content-Disposition", "attachment", filename=f"{item.name}.errors.csv"
            )
            message.attach(errors)
    subject = collapse(str(original.get("Subject", "") or "your upload"))
    address_message(
        message,
        sender=sender,
        recipients=(to,),
        subject=subject if subject.lower().startswith("re:") else f"Re: {subject}",
        date=now,
        message_id=f"<answer.{digest}@{sender_domain(sender)}>",
    )
    message.replace_header("Auto-Submitted", "auto-replied")
    original_id = collapse(str(original.get("Message-ID", "")))
    if original_id:
        message["In-Reply-To"] = original_id
        references = collapse(str(original.get("References", "")))
        message["References"] = f"{references} {original_id}".strip()
    return message


def _body(items: Sequence[AnsweredItem], problem: str | None) -> str:
    lines: list[str] = []
    if problem is not None:
        lines += [problem, ""]
    for item in items:
        lines += [item.summary, "-" * min(len(item.summary), 72), item.text.strip(), ""]
    return "\n".join(lines) + "\n"


def own_addresses(*mailboxes: str) -> frozenset[str]:
    return frozenset(a for a in (address_of(m) for m in mailboxes) if a)
