"""The IMAP adapter against a real Dovecot: TLS, folders, moves, IDLE, errors."""

from __future__ import annotations

import threading

import pytest

from sftp_watcher.errors import MailboxError, MailboxLoginFailed
from sftp_watcher.mailbox.imap import Mailbox
from tests.servers.dovecot import DovecotServer, MailUser, imap_config

pytestmark = pytest.mark.dovecot

MESSAGE = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_connects_verifying_the_certificate(
    dovecot: DovecotServer, mailbox: MailUser, security: str
) -> None:
    port = dovecot.port if security == "starttls" else dovecot.tls_port
    uid = mailbox.append(MESSAGE)
    with Mailbox(imap_config(mailbox, security=security, port=port)) as box:
        assert box.waiting() == [uid]
        assert box.uidvalidity == mailbox.uidvalidity()


def test_an_untrusted_certificate_is_refused(mailbox: MailUser) -> None:
    with pytest.raises(MailboxError, match="SSL"):
        Mailbox(imap_config(mailbox, ca_file=None)).open()


def test_a_wrong_password_is_a_login_failure_that_never_shows_it(mailbox: MailUser) -> None:
    with pytest.raises(MailboxLoginFailed) as exc:
        Mailbox(imap_config(mailbox, password="wrong-hunter2")).open()
    assert "wrong-hunter2" not in str(exc.value)
    assert "wrong-hunter2" not in repr(imap_config(mailbox, password="wrong-hunter2"))


def test_folders_created_once_and_a_move_leaves_no_copy(mailbox: MailUser) -> None:
    first, second = mailbox.append(MESSAGE), mailbox.append(MESSAGE)
    with Mailbox(imap_config(mailbox)) as box:
        assert box.create_missing() == ["Success", "Failure", "Rejected"]
        assert box.create_missing() == []
        box.move(first, "Success")
        assert box.waiting() == [second]
    assert mailbox.uids("INBOX") == [second]
    assert len(mailbox.uids("Success")) == 1


def test_idle_wakes_on_a_new_message(mailbox: MailUser) -> None:
    with Mailbox(imap_config(mailbox)) as box:
        assert box.has("IDLE")
        timer = threading.Timer(0.5, mailbox.append, args=(MESSAGE,))
        timer.start()
        try:
            woken = [box.wait(30) for _ in range(3) if not box.waiting()]
        finally:
            timer.join()
        assert woken and woken[0] is True
        assert len(box.waiting()) == 1


def test_a_server_restart_is_a_mailbox_error(dovecot: DovecotServer, mailbox: MailUser) -> None:
    with Mailbox(imap_config(mailbox)) as box:
        dovecot.restart()
        with pytest.raises(MailboxError):
            box.waiting()
    with Mailbox(imap_config(mailbox)) as box:
        assert box.waiting() == []
