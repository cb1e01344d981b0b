"""Rendering the account holder's email: subject, contents, escaping, fixed Message-ID."""

from __future__ import annotations

import email
import email.policy
import string
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sftp_watcher.calllist.report import RowError
from sftp_watcher.notify import render, subject_for
from sftp_watcher.notify.message import POLICY
from tests.notify.notices import (
    KOLKATA,
    SENDER,
    failure_notice,
    rendered,
    rendered_test_email,
    success_notice,
)


def _text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def _html(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def test_subject_of_a_processed_upload_matches_the_spec_example() -> None:
    assert (
        subject_for(success_notice())
        == "Upload processed: C129113_o9vJavuB.csv — 982 of 1000 calls scheduled"
    )


def test_subject_of_a_failed_upload_matches_the_spec_example() -> None:
    notice = failure_notice(file_name="C129113_o9vJavuB.csv")
    assert (
        subject_for(notice)
        == "Upload failed: C129113_o9vJavuB.csv — file name names account C999, not C129113"
    )


def test_subject_reason_is_one_line_and_a_long_reason_is_shortened() -> None:
    reason = "the header\r\nBcc: victim@example.com names " + "a very long problem " * 40
    subject = subject_for(failure_notice(reason=reason))

    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("Upload failed: C999_o9vJavuB.csv — the header Bcc: victim@")
    assert subject.endswith("…")
    assert len(subject) < 200


def test_subject_of_a_failure_without_a_reason_points_to_the_body() -> None:
    subject = subject_for(failure_notice(reason=None))
    assert subject == "Upload failed: C999_o9vJavuB.csv — see the details in this email"


def test_headers_address_the_account_holders_from_the_configured_sender() -> None:
    message = rendered(success_notice(), sender=SENDER)

    assert message["From"] == SENDER
    assert [a.addr_spec for a in message["To"].addresses] == [
        "ops@acme.example",
        "lead@acme.example",
    ]
    assert message["Subject"] == subject_for(success_notice())
    assert parsedate_to_datetime(message["Date"]) == datetime(2026, 2, 8, 15, 41, 3, tzinfo=UTC)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"


def test_message_id_is_fixed_per_upload_so_a_resend_is_the_same_message() -> None:
    first = rendered(success_notice(), sender=SENDER)
    again = rendered(success_notice(), sender=SENDER)
    other = rendered(success_notice(upload_id="01JAB0000000000000000UPLD2"), sender=SENDER)

    assert first["Message-ID"] == again["Message-ID"] == "<01JAB0000000000000000UPLD1@example.com>"
    assert other["Message-ID"] != first["Message-ID"]
    # The same bytes, boundary included (a resend after a crash is the same email).
    assert first.as_bytes() == again.as_bytes()
    assert _boundary(other) != _boundary(first)


def _boundary(message: EmailMessage) -> bytes:
    boundary = message.get_boundary()
    assert boundary is not None
    return boundary.encode()


def test_message_id_stays_valid_for_an_odd_upload_id_and_sender() -> None:
    message = rendered(success_notice(upload_id="up load/1"), sender="not an address")
    assert message["Message-ID"] == "<up-load/1@sftp-watcher>"


@pytest.mark.parametrize("part", [_text, _html])
def test_body_gives_every_detail_of_a_processed_upload(part: object) -> None:
    assert callable(part)
    body = part(rendered(success_notice(), sender=SENDER))

    for expected in [
        "C129113_o9vJavuB.csv",
        "08 Feb 2026 21:10 IST (UTC+05:30)",  # upload time, in the customer's time zone
        "o9vJavuB (dialer)",
        "982 of 1000 calls scheduled",
        "1000 total, 982 triggered, 18 rejected",
        "09 Feb 2026 10:30 IST (UTC+05:30) (from the file name)",
        "Success/C129113_o9vJavuB.csv",
        "country code missing (row 2)",
        "line 2",
        "9876500002",
        "Success/C129113_o9vJavuB.csv.errors.csv",
        "REQ-7f3a",
        "REQ-9b21",
        "it was read as Windows-1252",
        "upload only",  # what to do: re-upload the rejected rows alone
    ]:
        assert expected in body, expected


def test_body_shows_only_the_first_rejected_rows_and_names_the_errors_file() -> None:
    text = _text(rendered(success_notice(), sender=SENDER, max_rows_shown=5))

    assert "country code missing (row 6)" in text
    assert "country code missing (row 7)" not in text
    assert "the first 5 of 18" in text
    assert "and 13 more" in text
    assert "The full list of rejected rows is in Success/C129113_o9vJavuB.csv.errors.csv" in text


def test_body_names_the_zip_member_of_a_rejected_row() -> None:
    row = RowError(line=4, column="starttime", value="08/02/2026", reason="not ISO", member="a.csv")
    text = _text(rendered(success_notice(row_errors=(row,), rows_rejected=1), sender=SENDER))
    assert '- a.csv, line 4, column starttime, value "08/02/2026": not ISO' in text


@pytest.mark.parametrize("part", [_text, _html])
def test_body_of_a_failure_says_why_and_what_to_do(part: object) -> None:
    assert callable(part)
    body = part(rendered(failure_notice(), sender=SENDER))

    assert "We could not process your file" in body
    assert "file name names account C999, not C129113" in body
    assert "No calls were scheduled." in body
    assert "Failure/C999_o9vJavuB.csv" in body
    assert "Flow" in body and "not recognised" in body
    assert "upload the file to" in body and "Upload/" in body
    assert "982" not in body


def test_body_without_a_file_name_start_time_explains_which_start_time_applies() -> None:
    text = _text(rendered(success_notice(start_time=None), sender=SENDER))
    assert "each row's own starttime; rows without one are called at once" in text


def test_body_lists_phonon_errors_and_other_file_problems() -> None:
    notice = failure_notice(
        reason="Phonon accepted no batch",
        file_errors=("Phonon accepted no batch", "the file has 3 blank columns"),
        phonon_errors=("batch 2: 212 Insufficient Balance",),
    )
    text = _text(rendered(notice, sender=SENDER))

    assert "batch 2: 212 Insufficient Balance" in text
    assert "- the file has 3 blank columns" in text
    assert "- Phonon accepted no batch" not in text  # the main reason is said once, at the top


def test_html_escapes_a_hostile_file_name_and_cell_value() -> None:
    hostile = "<script>alert(1)</script>.csv"
    row = RowError(line=2, column="tel1", value='<img src=x onerror="steal()">', reason="bad")
    html = _html(rendered(failure_notice(file_name=hostile, row_errors=(row,)), sender=SENDER))

    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in html
    assert "&lt;img src=x onerror=" in html


def test_non_ascii_subject_is_encoded_for_the_wire_and_decodes_back() -> None:
    notice = success_notice(file_name="सूची_C129113_o9vJavuB.csv")
    raw = bytes(render(notice, sender=SENDER))

    raw.decode("ascii")  # headers and bodies are 7-bit on the wire
    assert b"=?utf-8?" in raw
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == subject_for(notice)


def test_a_non_ascii_sender_name_is_encoded_and_its_address_left_readable() -> None:
    raw = bytes(render(success_notice(), sender="Phonon Téléchargements <uploads@example.com>"))

    assert b"<uploads@example.com>" in raw  # mail servers read the address, not the name
    message = rendered(success_notice(), sender="Phonon Téléchargements <uploads@example.com>")
    assert message["From"].addresses[0].display_name == "Phonon Téléchargements"
    assert message["From"].addresses[0].addr_spec == "uploads@example.com"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="processed_at must be timezone-aware"):
        success_notice(processed_at=datetime(2026, 2, 8, 15, 41))


def test_an_email_without_recipients_is_refused() -> None:
    with pytest.raises(ValueError, match="recipient"):
        render(success_notice(recipients=()), sender=SENDER)


def test_test_email_has_its_own_message_id_each_time() -> None:
    now = datetime(2026, 2, 8, 21, 0, tzinfo=KOLKATA)
    first = rendered_test_email("acme", ["ops@acme.example"], sender=SENDER, now=now)
    second = rendered_test_email("acme", ["ops@acme.example"], sender=SENDER, now=now)

    assert first["Message-ID"] != second["Message-ID"]
    assert first["Message-ID"].endswith("@example.com>")
    assert first["Subject"] == "Test email from sftp-watcher for acme"
    assert "This is a test email" in str(first.get_content())
    assert "08 Feb 2026 21:00 IST" in str(first.get_content())


# Header names as the email has them, and text around the fast path's edges: printable
# ASCII and tabs, line breaks str.splitlines() knows, non-ASCII, values near 78 columns.
_HEADER_NAMES = st.sampled_from(["To", "From", "Subject", "Message-ID", "X-Sftp-Watcher-Upload-Id"])
_HEADER_TEXT = st.text(
    alphabet=st.sampled_from([*string.printable, "\t", "\v", "\f", "\x1c", "\x85", "é", "—"]),
    max_size=120,
)


@settings(max_examples=2000, deadline=None)
@given(name=_HEADER_NAMES, value=_HEADER_TEXT)
def test_headers_are_written_as_compat32_writes_them(name: str, value: str) -> None:
    for method in ("fold", "fold_binary"):
        assert _outcome(getattr(POLICY, method), name, value) == _outcome(
            getattr(email.policy.compat32, method), name, value
        )


def _outcome(fold: Callable[[str, str], object], name: str, value: str) -> object:
    """What ``fold`` writes, or the type of error it raises (a value that looks like a
    header after a line break is refused)."""
    try:
        return fold(name, value)
    except Exception as exc:
        return type(exc)


def test_an_email_is_written_as_compat32_writes_it() -> None:
    message = render(success_notice(), sender=SENDER)
    assert bytes(message) == message.as_bytes(policy=email.policy.compat32)
