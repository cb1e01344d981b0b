"""The mailbox door's pure rules: routing, senders, trust, attachment names, answers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import compat32
from typing import Any

import pytest

from sftp_watcher.config import Settings, settings_from_mapping
from sftp_watcher.mailbox.answer import AnsweredItem, answerable, render_answer
from sftp_watcher.mailbox.attachments import attachments, judged_name, safe_name
from sftp_watcher.mailbox.routing import flow_addresses, route, sender_allowed, sender_of
from sftp_watcher.mailbox.trust import authenticated


def settings(**flow: Any) -> Settings:
    return settings_from_mapping(
        {
            "email_upload": {
                "address": "uploads@phonon.example",
                "imap": {"host": "h", "username": "u", "password": "p"},
                "authserv_id": "mx.phonon.example",
            },
            "customers": [
                {
                    "id": "acme",
                    "user_id": "129113",
                    "source": {"kind": "local", "path": "/tmp"},
                    "flows": [
                        {"id": "o9vJavuB", "security_id": "s" * 64, **flow},
                        {"id": "Other123", "security_id": "s" * 64},
                    ],
                    "email_senders": ["ops@acme.example", "*@calls.acme.example"],
                }
            ],
        }
    )


def parse(headers: str, body: str = "hi") -> Message:
    return message_from_bytes(f"{headers}\n\n{body}\n".encode(), policy=compat32)


def test_plus_address_routes_case_insensitively_from_any_recipient_header() -> None:
    addresses = flow_addresses(settings())
    for header in ("To", "Cc", "Delivered-To", "X-Original-To"):
        message = parse(f"{header}: Uploads <UPLOADS+o9vjavub@Phonon.Example>")
        found = route(message, addresses)
        assert found is not None and found.flow.id == "o9vJavuB", header
    assert route(parse("To: uploads+nope@phonon.example"), addresses) is None
    assert route(parse("To: uploads@phonon.example"), addresses) is None


def test_a_flow_email_address_replaces_its_plus_address() -> None:
    addresses = flow_addresses(settings(email_address="calls@acme-uploads.example"))
    found = route(parse("To: a@b.example, Calls@ACME-uploads.example"), addresses)
    assert found is not None and found.flow.id == "o9vJavuB"
    assert route(parse("To: uploads+o9vJavuB@phonon.example"), addresses) is None


def test_senders_exact_or_by_domain_pattern() -> None:
    allowed = ["ops@acme.example", "*@calls.acme.example"]
    assert sender_allowed("ops@acme.example", allowed)
    assert sender_allowed("anyone@calls.acme.example", allowed)
    assert not sender_allowed("anyone@acme.example", allowed)
    assert not sender_allowed("x@evil.calls.acme.example", allowed)
    assert sender_of(parse("From: Ops <OPS@acme.example>")) == "ops@acme.example"
    assert sender_of(parse("From: a@x.example, b@x.example")) is None
    assert sender_of(parse("Subject: none")) is None


@pytest.mark.parametrize(
    ("header", "trusted"),
    [
        ("mx.phonon.example; dmarc=pass header.from=acme.example", True),
        ("mx.phonon.example; spf=pass; dkim=pass header.d=acme.example", True),
        ("mx.phonon.example; dkim=pass header.i=@acme.example", True),
        ("MX.PHONON.EXAMPLE 1; dmarc=pass (p=none) header.from=acme.example", True),
        ("mx.phonon.example; dkim=pass header.d=evil.example", False),
        ("mx.phonon.example; dmarc=fail header.from=acme.example", False),
        ("mx.evil.example; dmarc=pass header.from=acme.example", False),
        ("mx.phonon.example; spf=pass smtp.mailfrom=acme.example", False),
    ],
)
def test_authentication_results_trusted_only_from_the_authserv_id(
    header: str, trusted: bool
) -> None:
    message = parse(f"From: ops@acme.example\nAuthentication-Results: {header}")
    assert (
        authenticated(message, authserv_id="mx.phonon.example", sender="ops@acme.example")
        is trusted
    )


def test_attachment_names_are_base_names_never_paths() -> None:
    assert safe_name("../../x.csv", 2) == "x.csv"
    assert safe_name("..\\..\\win.CSV", 2) == "win.CSV"
    assert safe_name("../", 3) == "attachment-3"
    assert safe_name("a\x00b\n.csv", 1) == "ab.csv"
    long = safe_name("x" * 400 + ".csv", 1)
    assert long.endswith(".csv") and len(long.encode()) <= 150


def test_attachment_names_carry_the_start_time_or_none() -> None:
    config = settings()
    customer = config.customers[0]
    flow = customer.flows[0]
    assert judged_name("upload_08022027211200.csv", customer, flow) == (
        "C129113_o9vJavuB_upload_08022027211200.csv",
        None,
    )
    assert judged_name("calls.CSV", customer, flow) == ("C129113_o9vJavuB.csv", None)
    same = "C129113_o9vJavuB_upload_08022027211200.zip"
    assert judged_name(same, customer, flow) == (same, None)
    _, problem = judged_name("C129113_Other123.csv", customer, flow)
    assert problem is not None and "o9vJavuB" in problem
    _, problem = judged_name("C999_o9vJavuB.csv", customer, flow)
    assert problem is not None


def test_attachments_by_position_with_sizes_known_before_decoding() -> None:
    message = EmailMessage()
    message["From"] = "ops@acme.example"
    message.set_content("see attached")
    message.add_attachment(b"tel1\n919812345678\n", "text", "csv", filename="../../a.csv")
    message.add_attachment(b"\x00" * 3000, "application", "octet-stream", filename="b.zip")
    parsed = message_from_bytes(bytes(message), policy=compat32)
    found = attachments(parsed)
    assert [(a.position, a.name) for a in found] == [(2, "a.csv"), (3, "b.zip")]
    assert found[1].least_size() >= 2990
    assert found[1].decode() == b"\x00" * 3000
    assert base64.b64encode(found[0].decode())


def test_no_answer_to_machines_lists_or_ourselves() -> None:
    own = frozenset({"uploads@phonon.example"})
    assert answerable(parse("From: a@x.example"), sender="a@x.example", own=own)
    assert answerable(parse("Auto-Submitted: no"), sender="a@x.example", own=own)
    assert not answerable(parse("Auto-Submitted: auto-replied"), sender="a@x.example", own=own)
    for precedence in ("bulk", "List", "junk"):
        message = parse(f"Precedence: {precedence}")
        assert not answerable(message, sender="a@x.example", own=own)
    assert not answerable(parse(""), sender="uploads@phonon.example", own=own)
    assert not answerable(parse(""), sender=None, own=own)


def test_the_answer_is_rfc_3834_and_the_same_bytes_each_time() -> None:
    original = parse("From: ops@acme.example\nSubject: calls\nMessage-ID: <m1@acme.example>")
    items = [AnsweredItem("a.csv", "Upload processed: a.csv", "1 of 2", b"line,reason\n")]
    now = datetime(2027, 1, 1, tzinfo=UTC)

    def render() -> Message:
        return render_answer(
            original,
            key="acct:INBOX:1:5",
            sender="Phonon Uploads <uploads@phonon.example>",
            to="ops@acme.example",
            items=items,
            problem=None,
            now=now,
        )

    answer = render()
    assert bytes(answer) == bytes(render())
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["In-Reply-To"] == "<m1@acme.example>"
    assert answer["References"] == "<m1@acme.example>"
    assert answer["To"] == "ops@acme.example"
    assert answer["Subject"] == "Re: calls"
    names = [p.get_filename() for p in answer.walk() if p.get_filename()]
    assert names == ["a.csv.errors.csv"]
