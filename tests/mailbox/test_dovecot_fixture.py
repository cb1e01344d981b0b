"""The Dovecot fixture itself: TLS only, folders, UIDs, UIDVALIDITY changes, restarts."""

import pytest
from imapclient import IMAPClient

from tests.servers.dovecot import DovecotServer, MailUser

pytestmark = pytest.mark.dovecot

MESSAGE = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n"


def test_implicit_tls_port_verifies_against_the_test_ca(
    dovecot: DovecotServer, mailbox: MailUser
) -> None:
    context = dovecot.client_context()
    port = dovecot.tls_port
    with IMAPClient("127.0.0.1", port, ssl=True, ssl_context=context, timeout=5) as imap:
        imap.login(mailbox.name, mailbox.password)
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0


def test_append_lists_uids_and_uidvalidity_changes(mailbox: MailUser) -> None:
    first = mailbox.append(MESSAGE)
    second = mailbox.append(MESSAGE)
    assert mailbox.uids() == [first, second]
    before = mailbox.uidvalidity()
    mailbox.change_uidvalidity(before + 7)
    assert mailbox.uidvalidity() == before + 7
    assert "INBOX" in mailbox.folders()


def test_restart_keeps_the_mail(dovecot: DovecotServer, mailbox: MailUser) -> None:
    uid = mailbox.append(MESSAGE)
    dovecot.restart()
    assert mailbox.uids() == [uid]
    with mailbox.client() as imap:
        assert b"IDLE" in imap.capabilities()
        assert b"MOVE" in imap.capabilities()
