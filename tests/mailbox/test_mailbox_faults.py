"""The mailbox changing under the door: UIDVALIDITY renumbering, a server restart
mid-poll, a thousand waiting messages, replicas sharing PostgreSQL (SPEC 9, 11)."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from sftp_watcher.errors import MailboxError
from sftp_watcher.mailbox.ledger import MailMessage, MessageKey
from sftp_watcher.poller import SweepResult
from sftp_watcher.service import Service
from tests.mailbox.rig import EmailRig, upload_message
from tests.mailbox.test_crash import _poll_once
from tests.servers.dovecot import DovecotServer
from tests.servers.rig import csv_text, mobile

pytestmark = pytest.mark.dovecot


def _once(rig: EmailRig) -> None:
    by_id = rig.phonon.calls_by_client_id()
    assert all(len(calls) == 1 for calls in by_id.values()), "a call was accepted twice"
    numbers = Counter(c["contact-numbers"][0] for c in rig.phonon.accepted_calls)
    assert all(n == 1 for n in numbers.values()), "a number was called twice"


@pytest.mark.slow
def test_a_renumbered_mailbox_finishes_a_message_without_calling_twice(
    email_rig: EmailRig,
) -> None:
    config = email_rig.write_config()
    email_rig.deliver(upload_message(("a.csv", csv_text(mobile(1), mobile(2)).encode())))
    assert _poll_once(config, "mail.before_move") == -signal.SIGKILL
    assert len(email_rig.phonon.accepted_calls) == 2
    email_rig.mailbox.change_uidvalidity(email_rig.mailbox.uidvalidity() + 1000)
    assert _poll_once(config) == 0
    _once(email_rig)
    assert len(email_rig.phonon.accepted_calls) == 2
    assert len({str(m["Message-ID"]) for m in email_rig.answers()}) == 1
    assert email_rig.folder("INBOX") == []
    assert len(email_rig.folder("Success")) == 1


def test_a_server_restart_mid_poll_loses_nothing(
    email_rig: EmailRig, dovecot: DovecotServer
) -> None:
    for n in range(6):
        email_rig.deliver(upload_message((f"l{n}.csv", csv_text(mobile(n)).encode())))
    settings = email_rig.settings()
    with Service(settings) as service:
        assert service.email is not None
        door = service.email.door
        prepare = door.prepare
        seen: list[MessageKey] = []
        guard = threading.Lock()

        def restart_after_third(key: MessageKey, raw: bytes) -> MailMessage:
            with guard:
                seen.append(key)
                if len(seen) == 3:
                    dovecot.restart()  # the server goes away under the poll
            return prepare(key, raw)

        door.prepare = restart_after_third  # type: ignore[method-assign]
        with pytest.raises(MailboxError):
            service.email.poll_once()
        door.prepare = prepare  # type: ignore[method-assign]
        service.poll_once()
    _once(email_rig)
    assert len(email_rig.phonon.accepted_calls) == 6
    assert email_rig.folder("INBOX") == []
    assert len(email_rig.folder("Success")) == 6
    assert len({str(m["Message-ID"]) for m in email_rig.answers()}) == 6


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_thousand_waiting_messages_are_drained(email_rig: EmailRig) -> None:
    # Unknown senders: the mailbox and the ledger are what is measured, not Phonon.
    with email_rig.mailbox.client() as imap:
        for n in range(1000):
            message = upload_message(("a.csv", b"tel1\n"), sender=f"x{n}@nowhere.example")
            imap.append("INBOX", bytes(message))
    email_rig.poll()
    assert email_rig.folder("INBOX") == []
    assert len(email_rig.folder("Rejected")) == 1000
    assert len(email_rig.ledger()) == 1000
    assert email_rig.smtp.messages == []


@pytest.mark.postgres
def test_replicas_on_postgresql_never_process_a_message_twice(
    email_rig: EmailRig, pg_url: str
) -> None:
    email_rig.overrides["state_url"] = pg_url
    for n in range(4):
        email_rig.deliver(upload_message((f"l{n}.csv", csv_text(mobile(n)).encode())))
    settings = email_rig.settings()
    with Service(settings) as first, Service(settings) as second:
        assert first.email is not None and second.email is not None
        door = first.email.door
        prepare = door.prepare
        meanwhile: list[SweepResult | None] = []
        guard = threading.Lock()

        def other_replica_polls_meanwhile(key: MessageKey, raw: bytes) -> MailMessage:
            with guard:
                if not meanwhile:  # in the middle of the first replica's drain
                    with ThreadPoolExecutor(1) as pool:
                        meanwhile.append(pool.submit(second.drain_mailbox).result(timeout=60))
            return prepare(key, raw)

        door.prepare = other_replica_polls_meanwhile  # type: ignore[method-assign]
        first.poll_once()
        second.poll_once()
    [other] = meanwhile
    assert other is not None and other.processed == 0, "the other replica drained it too"
    _once(email_rig)
    assert len(email_rig.phonon.accepted_calls) == 4
    assert len(email_rig.answers()) == 4
    assert len(email_rig.holder_emails()) == 4
    assert email_rig.folder("INBOX") == []
