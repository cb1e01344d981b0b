"""The account holder's email (SPEC 8): the notice of one upload and its rendering.

Rendering is pure: the same notice gives the same message, ``Message-ID`` and
``Date`` included, so a resend after a crash is recognised as the same email.

Messages are built with the ``email`` package's MIME classes under its compat32 policy:
the modern ``EmailMessage`` parses every header it is given into objects and folds them
back, which made one email cost more than the database steps of its upload. Headers are
plain text here, non-ASCII encoded by the package (RFC 2047), bodies quoted-printable.
Writing them out takes a policy of our own (``POLICY``): compat32's bytes, faster.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from sftp_watcher.calllist.report import RowError

_SUBJECT_REASON_WIDTH = 120
_SUBJECT_FILE_WIDTH = 100
_CELL_WIDTH = 60
_FALLBACK_DOMAIN = "sftp-watcher"


class FastCompat32(Compat32):
    """compat32, except that a header of printable ASCII that fits on its line is written
    as it is, which is what compat32 writes for it too (the tests compare the two on
    random headers). compat32 sends every header through ``Header`` to fold it, fitting or
    not: a quarter of the cost of writing an email."""

    def fold(self, name: str, value: str) -> str:
        return self._as_is(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        plain = self._as_is(name, value)
        return plain.encode("ascii") if plain else super().fold_binary(name, value)

    def _as_is(self, name: str, value: object) -> str | None:
        if (
            type(value) is str  # not a Header, which holds non-ASCII text to encode
            and self.max_line_length is not None
            and len(name) + len(value) + 2 <= self.max_line_length
            and _PRINTABLE_ASCII.fullmatch(value)
        ):
            return f"{name}: {value}{self.linesep}"
        return None


# Tabs and printable ASCII: no line breaks (str.splitlines() also breaks at \v, \f, \x1c-\x1e).
_PRINTABLE_ASCII = re.compile(r"[\t\x20-\x7e]*")
POLICY = FastCompat32()


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadNotice:
    """Everything the account holder is told about one processed file."""

    upload_id: str
    customer_id: str
    recipients: tuple[str, ...]
    file_name: str
    uploaded_at: datetime | None  # the file's mtime
    processed_at: datetime
    timezone: ZoneInfo  # the customer's: every time is shown in it
    flow_id: str | None
    flow_type: str | None
    succeeded: bool  # True: archived to Success/
    reason: str | None  # the main failure reason; None on success
    rows_total: int
    rows_triggered: int
    rows_rejected: int
    start_time: datetime | None  # from the file name; None: each row's own, else at once
    archived_as: str  # e.g. "Success/C129113_o9vJavuB.csv"
    errors_file: str | None = None  # e.g. "Success/C129113_o9vJavuB.csv.errors.csv"
    row_errors: tuple[RowError, ...] = ()
    file_errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    request_ids: tuple[str, ...] = ()  # Phonon's request ids
    phonon_errors: tuple[str, ...] = ()  # e.g. "batch 2: 212 Insufficient Balance"

    def __post_init__(self) -> None:
        for name in ("uploaded_at", "processed_at", "start_time"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"UploadNotice.{name} must be timezone-aware")


def subject_for(notice: UploadNotice) -> str:
    """``Upload processed: <file> — 982 of 1000 calls scheduled``, or on failure
    ``Upload failed: <file> — <reason>`` (one line, the reason shortened)."""
    reason = _shorten(notice.reason or "see the details in this email", _SUBJECT_REASON_WIDTH)
    subject = (
        _environment()
        .get_template("subject.text.j2")
        .render(
            succeeded=notice.succeeded,
            file_name=_shorten(notice.file_name, _SUBJECT_FILE_WIDTH),
            rows_triggered=notice.rows_triggered,
            rows_total=notice.rows_total,
            reason=reason,
        )
    )
    # Whitespace collapsed also keeps a hostile file name from injecting header lines.
    return collapse(subject)


def render(notice: UploadNotice, *, sender: str, max_rows_shown: int = 20) -> Message:
    """The email for one upload: plain text and HTML alternatives, fixed ``Message-ID``."""
    context = _context(notice, max_rows_shown)
    env = _environment()
    # A boundary of our own: the same upload's email is the same bytes, and the library
    # need not compile a pattern to make sure a random one is absent from the parts. No
    # quoted-printable text ever holds "=_" ("=" is always followed by hex or a newline).
    boundary = "=_sftp-watcher_" + hashlib.sha256(notice.upload_id.encode()).hexdigest()[:32]
    message = MIMEMultipart("alternative", boundary=boundary, policy=POLICY)
    message.attach(text_part(env.get_template("upload.text.j2").render(context), "plain"))
    message.attach(text_part(env.get_template("upload.html.j2").render(context), "html"))
    address_message(
        message,
        sender=sender,
        recipients=notice.recipients,
        subject=subject_for(notice),
        date=notice.processed_at.astimezone(notice.timezone),
        message_id=f"<{_id_part(notice.upload_id)}@{sender_domain(sender)}>",
    )
    message["X-Sftp-Watcher-Upload-Id"] = collapse(notice.upload_id)
    return message


def render_test_email(
    customer_id: str, recipients: Sequence[str], *, sender: str, now: datetime
) -> Message:
    """``setup-test``'s "this is a test" email; each one has a new ``Message-ID``."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    text = (
        _environment()
        .get_template("test.text.j2")
        .render(customer_id=customer_id, sent_at=_when(now, now.tzinfo))
    )
    message = text_part(text, "plain", whole=True)
    address_message(
        message,
        sender=sender,
        recipients=tuple(recipients),
        subject=f"Test email from sftp-watcher for {collapse(customer_id)}",
        date=now,
        message_id=make_msgid(idstring="setup-test", domain=sender_domain(sender)),
    )
    return message


# Quoted-printable bodies: 7-bit safe for any relay, still readable in an .eml file.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
_UTF8_HEADER = Charset("utf-8")
_UTF8_HEADER.header_encoding = BASE64


def text_part(text: str, subtype: str, *, whole: bool = False) -> MIMEText:
    """A UTF-8 text part; ``whole``: the message itself (keeps its ``MIME-Version``)."""
    # The documented _charset takes a Charset too; typeshed knows only str.
    part = MIMEText(text, subtype, _UTF8, policy=POLICY)  # type: ignore[arg-type]
    if not whole:
        del part["MIME-Version"]  # said once, on the message itself
    return part


def address_message(
    message: Message,
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    date: datetime,
    message_id: str,
) -> None:
    """The headers of an email the service sends (``Auto-Submitted: auto-generated``)."""
    if not recipients:
        raise ValueError("an email needs at least one recipient")
    message["From"] = _mailbox(sender)
    message["To"] = ", ".join(_mailbox(r) for r in recipients)
    # Non-ASCII is encoded when the message is written; as base64, because the library
    # sizes a quoted-printable encoded word character by character (quadratic: a third of
    # an email's cost for a subject with an em dash).
    # (A Header is a documented value for compat32 messages; typeshed knows only str.)
    message["Subject"] = subject if subject.isascii() else Header(subject, _UTF8_HEADER)  # type: ignore[assignment]
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    # RFC 3834: tells autoresponders (out-of-office) not to answer a machine.
    message["Auto-Submitted"] = "auto-generated"


def _mailbox(mailbox: str) -> str:
    """``Name <user@domain>`` as a header holds it: only a non-ASCII name is encoded
    (encoding the whole header would hide the address from mail servers)."""
    if mailbox.isascii():
        return collapse(mailbox)
    name, address = parseaddr(mailbox)
    return formataddr((name, address), charset="utf-8") if address else collapse(mailbox)


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("sftp_watcher.notify", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # The templates ship inside the package: no stat of each one at every email.
        auto_reload=False,
    )


def _context(notice: UploadNotice, max_rows_shown: int) -> dict[str, Any]:
    tz = notice.timezone
    shown = notice.row_errors[: max(max_rows_shown, 0)]
    return {
        "n": notice,
        "file_name": notice.file_name,
        "uploaded_at": _when(notice.uploaded_at, tz) if notice.uploaded_at else "unknown",
        "processed_at": _when(notice.processed_at, tz),
        "flow": _flow(notice),
        "start_time": _start_time(notice),
        # The main reason is said once, at the top; the list holds the others.
        "other_file_errors": [e for e in notice.file_errors if e != notice.reason],
        "rows_shown": [_row(e) for e in shown],
        "rows_not_shown": len(notice.row_errors) - len(shown),
    }


def _flow(notice: UploadNotice) -> str:
    if notice.flow_id is None:
        return "not recognised"
    if notice.flow_type is None:
        return notice.flow_id
    return f"{notice.flow_id} ({notice.flow_type})"


def _start_time(notice: UploadNotice) -> str:
    if notice.start_time is not None:
        return f"{_when(notice.start_time, notice.timezone)} (from the file name)"
    return "each row's own starttime; rows without one are called at once"


def _row(error: RowError) -> dict[str, str]:
    where = f"line {error.line}"
    if error.member is not None:
        where = f"{error.member}, {where}"
    return {
        "where": where,
        "column": error.column,
        "value": _shorten(error.value, _CELL_WIDTH),
        "reason": error.reason,
    }


def _when(moment: datetime, tz: tzinfo | None) -> str:
    """``08 Feb 2026 21:12 IST (UTC+05:30)``: readable, with the offset to avoid doubt."""
    local = moment.astimezone(tz)
    clock = "%H:%M:%S" if local.second else "%H:%M"
    offset = local.strftime("%z")
    return f"{local.strftime('%d %b %Y ' + clock)} {local.tzname()} (UTC{offset[:3]}:{offset[3:]})"


def collapse(text: str) -> str:
    """``text`` on one line, every run of white space one space (header-safe)."""
    return " ".join(text.split())


def _shorten(text: str, width: int) -> str:
    text = collapse(text)
    if len(text) <= width:
        return text
    cut = text[: width - 1]
    space = cut.rfind(" ")
    if space > width * 2 // 3:  # prefer a word boundary when one is near the end
        cut = cut[:space]
    return cut.rstrip(" ,;:—-") + "…"


def _id_part(upload_id: str) -> str:
    # The left of a Message-ID must be an RFC 5322 dot-atom; map anything else to "-".
    cleaned = re.sub(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]", "-", upload_id).strip(".")
    return re.sub(r"\.{2,}", ".", cleaned) or "upload"


def sender_domain(sender: str) -> str:
    """The domain of ``Name <user@domain>``, so the Message-ID is in the sender's namespace."""
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    if at and re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", domain):
        return domain.lower()
    return _FALLBACK_DOMAIN
