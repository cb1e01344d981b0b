"""Sending the email: SMTP against a real aiosmtpd server, and the .eml folder backend."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from sftp_watcher.config import EmailConfig, SmtpConfig
from sftp_watcher.errors import MailError
from sftp_watcher.notify import (
    FileSender,
    SmtpSender,
    make_sender,
    render,
    render_test_email,
    subject_for,
)
from tests.notify.notices import KOLKATA, SENDER, success_notice
from tests.servers.smtp import SmtpTestServer, count_connections
from tests.servers.tls import TlsCertificates, make_certificates

PASSWORD = "s3cret-Pa55word"


def _full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def test_smtp_sender_delivers_the_message_to_every_recipient(
    smtp_server: SmtpTestServer,
) -> None:
    message = render(success_notice(), sender=SENDER)
    SmtpSender(smtp_server.config()).send(message)

    [received] = smtp_server.messages
    assert received.mail_from == "uploads@example.com"
    assert received.rcpt_tos == ("ops@acme.example", "lead@acme.example")
    assert received.message["Message-ID"] == message["Message-ID"]
    assert received.message.get_content_type() == "multipart/alternative"


def test_non_ascii_subject_and_file_name_survive_the_smtp_round_trip(
    smtp_server: SmtpTestServer,
) -> None:
    notice = success_notice(file_name="सूची_C129113_o9vJavuB.csv")
    SmtpSender(smtp_server.config()).send(render(notice, sender=SENDER))

    [received] = smtp_server.messages
    assert received.message["Subject"] == subject_for(notice)
    assert "सूची_C129113_o9vJavuB.csv — 982 of 1000" in received.message["Subject"]
    text = received.message.get_body(("plain",))
    assert text is not None
    assert "सूची_C129113_o9vJavuB.csv" in text.get_content()


def test_smtp_sender_logs_in_when_a_username_is_configured(
    make_smtp_server: Callable[..., SmtpTestServer],
) -> None:
    server = make_smtp_server(username="mailer", password=PASSWORD)
    SmtpSender(server.config()).send(render(success_notice(), sender=SENDER))
    assert len(server.messages) == 1


def test_server_requiring_auth_refuses_a_sender_without_credentials(
    make_smtp_server: Callable[..., SmtpTestServer],
) -> None:
    server = make_smtp_server(username="mailer", password=PASSWORD)
    with pytest.raises(MailError, match="sender refused"):
        SmtpSender(server.config(username=None, password=None)).send(
            render(success_notice(), sender=SENDER)
        )
    assert server.messages == []


def test_wrong_password_says_authentication_failed_and_never_shows_the_password(
    make_smtp_server: Callable[..., SmtpTestServer],
) -> None:
    server = make_smtp_server(username="mailer", password="the-right-one")
    with pytest.raises(MailError, match="authentication failed") as caught:
        SmtpSender(server.config(password=PASSWORD)).send(render(success_notice(), sender=SENDER))

    assert "'mailer'" in str(caught.value)
    assert PASSWORD not in _full_text(caught.value)
    assert server.messages == []


def test_refused_sender_raises_mail_error(smtp_server: SmtpTestServer) -> None:
    smtp_server.refused_senders.add("uploads@example.com")
    with pytest.raises(MailError, match=r"sender refused .*uploads@example.com.*550"):
        SmtpSender(smtp_server.config()).send(render(success_notice(), sender=SENDER))


def test_all_recipients_refused_raises_mail_error_naming_them(
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.refused_recipients.update({"ops@acme.example", "lead@acme.example"})
    with pytest.raises(MailError, match="recipients refused") as caught:
        SmtpSender(smtp_server.config()).send(render(success_notice(), sender=SENDER))
    assert "ops@acme.example (550" in str(caught.value)


def test_one_refused_recipient_does_not_fail_the_others(smtp_server: SmtpTestServer) -> None:
    # Raising would make the outbox resend to the recipient who already has it.
    smtp_server.refused_recipients.add("lead@acme.example")
    SmtpSender(smtp_server.config()).send(render(success_notice(), sender=SENDER))
    [received] = smtp_server.messages
    assert received.rcpt_tos == ("ops@acme.example",)


def test_server_down_raises_cannot_connect_and_sending_works_once_it_is_back(
    smtp_server: SmtpTestServer,
) -> None:
    sender = SmtpSender(smtp_server.config())
    message = render(success_notice(), sender=SENDER)
    smtp_server.stop()

    with pytest.raises(MailError, match=r"cannot connect to mail server 127\.0\.0\.1:") as caught:
        sender.send(message)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)

    smtp_server.start()
    sender.send(message)
    assert len(smtp_server.messages) == 1


def test_starttls_against_a_server_without_it_is_a_tls_failure(
    smtp_server: SmtpTestServer,
) -> None:
    sender = SmtpSender(smtp_server.config(security="starttls"))
    with pytest.raises(MailError, match=r"TLS failure .*does not offer STARTTLS"):
        sender.send(render(success_notice(), sender=SENDER))
    assert smtp_server.messages == []


def test_ssl_against_a_plain_server_is_a_tls_failure(smtp_server: SmtpTestServer) -> None:
    sender = SmtpSender(smtp_server.config(security="ssl"))
    with pytest.raises(MailError, match="TLS failure"):
        sender.send(render(success_notice(), sender=SENDER))


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> TlsCertificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(
    request: pytest.FixtureRequest, certificates: TlsCertificates
) -> Iterator[SmtpTestServer]:
    server = SmtpTestServer(
        username="mailer", password=PASSWORD, tls=request.param, certificates=certificates
    )
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("tls_server", ["starttls", "ssl"], indirect=True)
def test_tls_with_a_private_ca_verifies_the_server_and_logs_in(
    tls_server: SmtpTestServer,
) -> None:
    SmtpSender(tls_server.config()).send(render(success_notice(), sender=SENDER))
    (mail,) = tls_server.messages
    assert mail.rcpt_tos == success_notice().recipients


@pytest.mark.parametrize("tls_server", ["starttls", "ssl"], indirect=True)
def test_tls_with_a_certificate_nobody_vouches_for_is_refused_with_the_fix(
    tls_server: SmtpTestServer, tmp_path: Path
) -> None:
    stranger = make_certificates(tmp_path, name="Some Other CA")
    sender = SmtpSender(tls_server.config(ca_file=stranger.ca_file))
    with pytest.raises(MailError) as caught:
        sender.send(render(success_notice(), sender=SENDER))
    assert "TLS failure" in str(caught.value)
    assert "certificate not trusted" in str(caught.value)
    assert "email.smtp.ca_file" in str(caught.value)
    assert PASSWORD not in _full_text(caught.value)
    assert tls_server.messages == []


def test_smtp_sender_repr_and_config_repr_hide_the_password() -> None:
    config = SmtpConfig(host="mail.example", username="mailer", password=PASSWORD)
    sender = SmtpSender(config)

    assert PASSWORD not in repr(sender)
    assert "mail.example" in repr(sender)
    assert PASSWORD not in repr(make_sender(EmailConfig(smtp=config)))


def test_file_sender_writes_one_eml_per_message_id_even_when_sent_twice(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    sender = FileSender(outbox)
    message = render(success_notice(), sender=SENDER)

    sender.send(message)
    sender.send(render(success_notice(), sender=SENDER))

    [written] = list(outbox.iterdir())
    assert written.name == "01JAB0000000000000000UPLD1@example.com.eml"
    assert b"Message-ID: <01JAB0000000000000000UPLD1@example.com>" in written.read_bytes()


def test_file_sender_keeps_every_test_email(tmp_path: Path) -> None:
    sender = FileSender(tmp_path)
    now = datetime(2026, 2, 8, 21, 0, tzinfo=KOLKATA)
    for _ in range(2):
        sender.send(render_test_email("acme", ["ops@acme.example"], sender=SENDER, now=now))
    assert len(list(tmp_path.glob("*.eml"))) == 2
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_file_sender_turns_an_unwritable_folder_into_mail_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the outbox should be")
    with pytest.raises(MailError, match="cannot write"):
        FileSender(blocker).send(render(success_notice(), sender=SENDER))


def test_make_sender_follows_the_configured_backend(tmp_path: Path) -> None:
    assert isinstance(make_sender(EmailConfig(backend="file", file_dir=tmp_path)), FileSender)
    assert isinstance(make_sender(EmailConfig(backend="smtp")), SmtpSender)


def test_a_session_sends_every_message_over_one_connection(
    smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = count_connections(monkeypatch)
    with SmtpSender(smtp_server.config()).session() as session:
        for upload in ("U1", "U2", "U3"):
            session.send(render(success_notice(upload_id=upload), sender=SENDER))
    assert len(smtp_server.messages) == 3
    assert len(opened) == 1


def test_a_session_that_sends_nothing_never_connects(
    smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = count_connections(monkeypatch)
    with SmtpSender(smtp_server.config()).session():
        pass
    assert opened == []


def test_stored_bytes_go_out_unchanged_to_the_addresses_in_their_headers(
    smtp_server: SmtpTestServer,
) -> None:
    notice = success_notice(file_name="सूची_C129113_o9vJavuB.csv")
    raw = bytes(render(notice, sender=SENDER))  # what the outbox keeps
    with SmtpSender(smtp_server.config()).session() as session:
        session.send_raw(raw)

    [received] = smtp_server.messages
    assert received.mail_from == "uploads@example.com"
    assert received.rcpt_tos == ("ops@acme.example", "lead@acme.example")
    assert received.raw.replace(b"\r\n", b"\n") == raw
    assert received.message["Subject"] == subject_for(notice)


def test_blind_copies_are_stripped_from_stored_bytes(smtp_server: SmtpTestServer) -> None:
    message = render(success_notice(), sender=SENDER)
    message["Bcc"] = "audit@phonon.example"
    SmtpSender(smtp_server.config()).send_raw(bytes(message))

    [received] = smtp_server.messages
    assert "audit@phonon.example" in received.rcpt_tos
    assert b"audit@phonon.example" not in received.raw


def test_a_kept_connection_the_server_dropped_is_reopened_for_the_next_message(
    smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = count_connections(monkeypatch)
    with SmtpSender(smtp_server.config()).session() as session:
        session.send(render(success_notice(upload_id="U1"), sender=SENDER))
        smtp_server.stop()  # the server's idle timeout, as the client sees it
        smtp_server.start()
        session.send(render(success_notice(upload_id="U2"), sender=SENDER))
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [
        "<U1@example.com>",
        "<U2@example.com>",
    ]
    assert len(opened) == 2


def test_a_failed_message_closes_the_session_connection(
    smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = count_connections(monkeypatch)
    smtp_server.refused_recipients.update({"ops@acme.example", "lead@acme.example"})
    with SmtpSender(smtp_server.config()).session() as session:
        with pytest.raises(MailError, match="recipients refused"):
            session.send(render(success_notice(upload_id="U1"), sender=SENDER))
        smtp_server.refused_recipients.clear()
        session.send(render(success_notice(upload_id="U2"), sender=SENDER))
    assert len(smtp_server.messages) == 1
    assert len(opened) == 2  # no retry of a refusal on a new connection, a new one after it


def test_file_sender_writes_stored_bytes_as_its_eml(tmp_path: Path) -> None:
    message = render(success_notice(), sender=SENDER)
    with FileSender(tmp_path).session() as session:
        session.send_raw(bytes(message))
    [written] = list(tmp_path.iterdir())
    assert written.name == "01JAB0000000000000000UPLD1@example.com.eml"
    assert written.read_bytes() == message.as_bytes()
