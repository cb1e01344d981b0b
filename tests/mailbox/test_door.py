"""The mailbox door end to end: real Dovecot, the Phonon stub, the SMTP sink (SPEC 11)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from sftp_watcher import cli
from tests.mailbox.rig import FLOW_ID, SENDER, USER_ID, EmailRig, upload_message
from tests.servers.dovecot import DovecotServer
from tests.servers.rig import csv_text, mobile, tomorrow_at

pytestmark = pytest.mark.dovecot


def _csv(*ns: int) -> bytes:
    return csv_text(*(mobile(n) for n in ns)).encode()


def test_an_emailed_list_is_scheduled_answered_and_moved(email_rig: EmailRig) -> None:
    start = tomorrow_at(11)
    name = f"upload_{start:%d%m%Y%H%M%S}.csv"
    message = upload_message((name, _csv(1, 2)))
    email_rig.deliver(message)
    email_rig.poll()
    assert len(email_rig.phonon.accepted_calls) == 2
    assert all(
        c["start-time"].startswith(f"{start:%Y-%m-%dT%H:%M}")
        for c in email_rig.phonon.accepted_calls
    )
    assert email_rig.folder("INBOX") == []
    assert len(email_rig.folder("Success")) == 1
    [answer] = email_rig.answers()
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["In-Reply-To"] == message["Message-ID"]
    assert answer["References"] == message["Message-ID"]
    assert list(answer.iter_attachments()) == []
    assert "2 of 2 calls scheduled" in answer.get_body(("plain",)).get_content()
    [holder] = email_rig.holder_emails()
    assert name in str(holder["Subject"])
    [record] = email_rig.ledger()
    assert (record.state, record.destination, record.answer) == ("moved", "Success", "queued")
    email_rig.poll()  # nothing left: nothing twice
    assert len(email_rig.phonon.accepted_calls) == 2
    assert len(email_rig.smtp.messages) == 2


def test_rejected_rows_come_back_as_an_errors_file(email_rig: EmailRig) -> None:
    data = csv_text(mobile(1), "12345").encode()
    email_rig.deliver(upload_message(("../../x.csv", data)))
    email_rig.poll()
    [answer] = email_rig.answers()
    [errors] = list(answer.iter_attachments())
    assert errors.get_filename() == "x.csv.errors.csv"
    assert b"12345" in errors.get_content().encode()
    assert len(email_rig.phonon.accepted_calls) == 1
    spool = email_rig.tmp / "spool" / "email" / "acme"
    assert (spool / "Success" / "x.csv").exists()
    assert not (email_rig.tmp / "x.csv").exists()


def test_a_message_without_a_call_list_is_answered_and_fails(email_rig: EmailRig) -> None:
    email_rig.deliver(upload_message(html_only=True))
    email_rig.poll()
    [answer] = email_rig.answers()
    assert "No call list was attached" in answer.get_body(("plain",)).get_content()
    assert len(email_rig.folder("Failure")) == 1
    assert email_rig.holder_emails() == []


def test_ten_attachments_are_ten_uploads_in_one_answer(email_rig: EmailRig) -> None:
    files = [(f"list{i}.csv", _csv(100 + i)) for i in range(10)]
    email_rig.deliver(upload_message(*files))
    email_rig.poll()
    assert len(email_rig.phonon.accepted_calls) == 10
    [answer] = email_rig.answers()
    body = answer.get_body(("plain",)).get_content()
    assert all(f"list{i}.csv" in body for i in range(10))
    assert len(email_rig.holder_emails()) == 10


def test_a_zip_bomb_fails_that_upload(email_rig: EmailRig) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.csv", b"tel1\n" + b"0" * 20_000_000)
    email_rig.deliver(upload_message(("bomb.zip", buffer.getvalue())))
    email_rig.poll()
    assert email_rig.phonon.accepted_calls == []
    assert len(email_rig.folder("Failure")) == 1
    [answer] = email_rig.answers()
    assert "Upload failed: bomb.zip" in answer.get_body(("plain",)).get_content()


def test_an_oversize_attachment_is_rejected_without_an_upload(email_rig: EmailRig) -> None:
    email_rig.overrides["limits"] = {"max_file_bytes": 1000}
    email_rig.deliver(upload_message(("big.csv", _csv(*range(200)))))
    email_rig.poll()
    assert email_rig.phonon.accepted_calls == []
    [answer] = email_rig.answers()
    assert "larger than the limit of 1000 bytes" in answer.get_body(("plain",)).get_content()
    [record] = email_rig.ledger()
    assert record.items[0]["upload_id"] is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"sender": "stranger@evil.example"}, "unknown_sender"),
        ({"authenticated": "mx.evil.example"}, "forged"),
        ({"to": "uploads+Nope1234@phonon.example"}, "unknown_flow"),
    ],
)
def test_unknown_and_forged_senders_get_nothing(
    email_rig: EmailRig, changes: dict[str, str], reason: str
) -> None:
    email_rig.deliver(upload_message(("a.csv", _csv(1)), **changes))  # type: ignore[arg-type]
    email_rig.poll()
    assert email_rig.phonon.accepted_calls == []
    assert email_rig.smtp.messages == []
    assert len(email_rig.folder("Rejected")) == 1
    [record] = email_rig.ledger()
    assert record.reason == reason


@pytest.mark.parametrize(
    "headers",
    [{"Auto-Submitted": "auto-generated"}, {"Precedence": "bulk"}, {"Precedence": "list"}],
)
def test_automatic_and_bulk_mail_is_processed_but_never_answered(
    email_rig: EmailRig, headers: dict[str, str]
) -> None:
    email_rig.deliver(upload_message(("a.csv", _csv(7)), headers=headers))
    email_rig.poll()
    assert len(email_rig.phonon.accepted_calls) == 1
    assert email_rig.answers() == []
    assert len(email_rig.holder_emails()) == 1


def test_a_name_of_another_flow_is_refused(email_rig: EmailRig) -> None:
    email_rig.deliver(upload_message((f"C{USER_ID}_Other123.csv", _csv(1))))
    email_rig.poll()
    assert email_rig.phonon.accepted_calls == []
    [answer] = email_rig.answers()
    assert FLOW_ID in answer.get_body(("plain",)).get_content()
    assert SENDER in str(answer["To"])


def test_history_shows_the_channel_and_the_sender(
    email_rig: EmailRig, capsys: pytest.CaptureFixture[str]
) -> None:
    email_rig.deliver(upload_message(("a.csv", _csv(3))))
    email_rig.poll()
    config = email_rig.write_config()
    capsys.readouterr()
    assert cli.main(["history", "--config", str(config), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["channel"], row["sender"], row["file"]) == ("email", SENDER, "a.csv")
    assert cli.main(["history", "--config", str(config)]) == 0
    assert f"email ({SENDER})" in capsys.readouterr().out


def test_a_message_no_rule_foresaw_goes_to_failure_and_the_rest_go_on(
    email_rig: EmailRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sftp_watcher.mailbox import door

    real = door.judged_name

    def buggy(name: str, *args: object) -> tuple[str, str | None]:
        if name == "poison.csv":
            raise RuntimeError("a bug no test foresaw")
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(door, "judged_name", buggy)
    email_rig.deliver(upload_message(("poison.csv", _csv(1))))
    email_rig.deliver(upload_message(("fine.csv", _csv(2))))
    email_rig.poll()
    assert email_rig.folder("INBOX") == []
    assert len(email_rig.folder("Failure")) == 1
    assert len(email_rig.folder("Success")) == 1
    assert len(email_rig.phonon.accepted_calls) == 1
    assert len(email_rig.answers()) == 1
    assert sorted(r.reason or "" for r in email_rig.ledger()) == ["", "unprocessable"]


def test_poll_once_exits_3_when_the_mailbox_is_unreachable(
    email_rig: EmailRig, dovecot: DovecotServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = email_rig.write_config()
    dovecot.stop()
    try:
        assert cli.main(["poll-once", "--config", str(config)]) == 3
        assert "mailbox" in capsys.readouterr().err
    finally:
        dovecot.start()
    assert cli.main(["poll-once", "--config", str(config)]) == 0
