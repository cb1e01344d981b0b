"""Faults survived (SPEC 9, issue 4): each ends with nothing lost, nothing sent twice, one
alert per outage per account, and the service back to normal by itself.

Alerts are the service's error-level JSON log events (``account.unavailable``,
``email.failed``, ``outbox.state_unavailable``); retries in between are info or warning.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from sftp_watcher.service import Service
from tests.faults.conftest import (
    Fleet,
    FleetAccount,
    RunProcess,
    count_events,
    end_sessions,
    json_events,
    wait_for,
)
from tests.servers.sshd import SshdServer
from tests.servers.tcp_proxy import TcpProxy

pytestmark = pytest.mark.sshd

WAIT = 45.0


def _assert_exactly_once(fleet: Fleet, files: int, numbers: list[str]) -> None:
    for account in fleet.accounts:
        assert account.listing()["Upload"] == [], f"{account.customer_id}: left in Upload/"
    assert sum(len(a.archived()) for a in fleet.accounts) == files
    by_id = fleet.phonon.calls_by_client_id()
    assert [i for i, calls in by_id.items() if len(calls) > 1] == [], "a call was accepted twice"
    called = Counter(c["contact-numbers"][0] for c in fleet.phonon.accepted_calls)
    assert sorted(called) == sorted(numbers), "every valid number is called, once"
    message_ids = Counter(fleet.message_ids())
    assert len(message_ids) == files and set(message_ids.values()) == {1}, "one email per file"


def _errors(events: list[dict[str, Any]]) -> list[str]:
    """The service's own alerts (paramiko's transport thread logs a reset socket itself)."""
    return [
        e["event"]
        for e in events
        if e.get("level") in {"error", "critical"}
        and str(e.get("logger", "")).startswith("sftp_watcher")
    ]


# -- the SFTP server -----------------------------------------------------------------


@pytest.mark.slow
def test_sftp_server_killed_mid_upload_and_restarted(
    fleet: Fleet,
    make_sshd: Callable[..., SshdServer],
    run_process: Callable[..., RunProcess],
) -> None:
    """The server dies while an upload is in hand; once it is back, everything finishes."""
    server = make_sshd()
    account = fleet.add(server)
    # Phonon takes the first request but answers late: the upload is claimed and in hand
    # (its SSH connection open) when the server is killed.
    fleet.phonon.inject("timeout", after_receive=True, delay=3)
    first, numbers = account.drop(rows=2)
    service = run_process(fleet.write_config())
    wait_for(lambda: len(fleet.phonon.requests) >= 1, WAIT, "the first file never reached Phonon")
    server.kill()
    second, more = account.drop(rows=1)

    def polls_failed() -> bool:
        return count_events(service.events(), "poll.failed") >= 2

    wait_for(polls_failed, WAIT, lambda: f"no failed polls logged: {account.listing()}")
    server.start()
    wait_for(
        lambda: len(account.archived()) == 2 and len(fleet.smtp.messages) == 2,
        WAIT,
        lambda: f"not finished after the restart: {account.listing()}",
        check=service.check_alive,
    )
    assert service.stop() == 0

    _assert_exactly_once(fleet, 2, numbers + more)
    assert sorted(account.archived()) == sorted([first, second])
    events = service.events()
    alerts = [e for e in events if e["event"] == "account.unavailable"]
    assert len(alerts) == 1, "one alert for the outage, not one per poll"
    assert alerts[0]["customer"] == account.customer_id and alerts[0]["error"]
    assert count_events(events, "account.recovered", customer=account.customer_id) == 1


def test_connection_dropped_while_idle_is_reopened_without_an_alert(
    fleet: Fleet, make_sshd: Callable[..., SshdServer], service_log: io.StringIO
) -> None:
    """A server (or a NAT) that drops an idle session: the next sweep simply reconnects."""
    server = make_sshd()
    account = fleet.add(server)
    with Service(fleet.settings()) as service:
        sweeper = service.accounts[account.customer_id]
        numbers = account.drop()[1]
        assert sweeper.sweep().error is None
        assert server.accepted_logins() == 1
        # What an idle timeout does: the server ends the session's process.
        end_sessions(server)
        more = account.drop()[1]
        result = sweeper.sweep()
        service.outbox.flush()

    assert result.error is None and result.processed == 1
    assert server.accepted_logins() == 2, "a new connection was made"
    _assert_exactly_once(fleet, 2, numbers + more)
    assert _errors(json_events(service_log.getvalue())) == []


@pytest.mark.slow
def test_hung_account_never_delays_the_others(
    fleet: Fleet,
    sshd: SshdServer,
    make_sshd: Callable[..., SshdServer],
    run_process: Callable[..., RunProcess],
) -> None:
    """One server stops answering (SIGSTOP) mid-connection; another account is served meanwhile."""
    frozen = make_sshd()
    hung = fleet.add(frozen, connect_timeout_seconds=5, operation_timeout_seconds=5)
    healthy = fleet.add(sshd)
    served, served_numbers = hung.drop()
    service = run_process(fleet.write_config())
    wait_for(
        lambda: hung.archived() == [served] and len(fleet.smtp.messages) == 1,
        WAIT,
        "the account on the server to freeze was never served",
        check=service.check_alive,
    )
    frozen.freeze()
    try:
        stuck, stuck_numbers = hung.drop()
        name, numbers = healthy.drop()
        wait_for(
            lambda: healthy.archived() == [name] and len(fleet.smtp.messages) == 2,
            WAIT,
            lambda: f"the healthy account waited for the hung one: {healthy.listing()}",
            check=service.check_alive,
        )
        assert hung.listing()["Upload"] == [stuck], "the frozen server cannot have been served"
    finally:
        frozen.thaw()
    wait_for(
        lambda: (
            sorted(hung.archived()) == sorted([served, stuck]) and len(fleet.smtp.messages) == 3
        ),
        WAIT,
        lambda: f"the hung account did not recover: {hung.listing()}",
        check=service.check_alive,
    )
    assert service.stop() == 0
    _assert_exactly_once(fleet, 3, served_numbers + numbers + stuck_numbers)
    events = service.events()
    assert count_events(events, "account.unavailable", customer=healthy.customer_id) == 0
    assert count_events(events, "account.unavailable", customer=hung.customer_id) <= 1


# -- Phonon --------------------------------------------------------------------------


def _phonon_pass(
    fleet: Fleet, sshd: SshdServer, inject: Callable[[], None]
) -> tuple[FleetAccount, str, list[str], float]:
    fleet.overrides["phonon"] = {
        "realtime_base_url": fleet.phonon.realtime_url,
        "bulk_base_url": fleet.phonon.bulk_url,
        "timeout_seconds": 1,
        "retry_budget_seconds": 10,
    }
    account = fleet.add(sshd)
    name, numbers = account.drop(rows=2)
    inject()
    started = time.monotonic()
    with Service(fleet.settings()) as service:
        service.poll_once()
    return account, name, numbers, time.monotonic() - started


@pytest.mark.parametrize(
    ("fault", "count", "options"),
    [
        pytest.param("http503", 3, {}, id="503-three-times"),
        pytest.param("http429", 2, {"retry_after": "1"}, id="429-retry-after"),
        # Phonon received the batch but the answer never came (twice): the resend of the
        # very same bytes is answered 201 and nobody is called twice.
        pytest.param("timeout", 2, {"after_receive": True, "delay": 1.5}, id="timeouts"),
    ],
)
def test_phonon_outage_within_the_retry_budget_ends_in_success(
    fleet: Fleet,
    sshd: SshdServer,
    service_log: io.StringIO,
    fault: str,
    count: int,
    options: dict[str, Any],
) -> None:
    account, name, numbers, _ = _phonon_pass(
        fleet, sshd, lambda: fleet.phonon.inject(fault, count, **options)
    )
    assert account.listing()["Success"] == [name]
    assert len(fleet.phonon.requests) == count + 1
    _assert_exactly_once(fleet, 1, numbers)
    assert fleet.smtp.messages[0].message["Subject"].startswith("Upload processed:")
    events = json_events(service_log.getvalue())
    assert _errors(events) == [], "a retried outage within the budget is no alert"
    assert count_events(events, "phonon.attempt_failed") == count
    if fault == "http429":
        assert {e["retry_in_ms"] for e in events if e["event"] == "phonon.attempt_failed"} == {
            1000
        }, "Retry-After is honoured"


@pytest.mark.slow
def test_phonon_silent_beyond_the_budget_fails_the_file_and_blocks_a_blind_reupload(
    fleet: Fleet, sshd: SshdServer, service_log: io.StringIO
) -> None:
    """Phonon takes the request and never answers: the calls may be placed, so the file
    fails saying so, and the same list uploaded again is stopped as a duplicate."""
    fleet.overrides["duplicate_window_hours"] = 24
    account, name, _, took = _phonon_pass(
        fleet, sshd, lambda: fleet.phonon.inject("timeout", 100, after_receive=True, delay=1.5)
    )
    assert account.listing()["Failure"] == [name]
    assert took < 60, "the retry budget bounds the time spent on one file"
    (mail,) = fleet.smtp.messages
    subject = str(mail.message["Subject"])
    assert subject.startswith(f"Upload failed: {name}")
    assert "may have received the list" in subject, subject
    assert "Check Phonon's call report" in _plain_body(mail)
    events = json_events(service_log.getvalue())
    assert count_events(events, "phonon.gave_up") == 1
    assert _errors(events).count("phonon.batch_rejected") == 1

    # The same list for the same start time (SPEC 5: another start time is a new campaign).
    (account.account.upload / name).write_bytes(
        (account.account.dir / "Failure" / name).read_bytes()
    )
    requests = len(fleet.phonon.requests)
    with Service(fleet.settings()) as service:
        service.poll_once()
    failure = account.listing()["Failure"]
    assert len(failure) == 2
    assert name in failure
    assert len(fleet.phonon.requests) == requests, "nothing is sent for the re-upload"
    reupload = fleet.smtp.messages[1]
    assert "Phonon did not answer" in _plain_body(reupload)
    assert name in _plain_body(reupload), "the reason names the earlier upload"


def test_phonon_unreachable_beyond_the_budget_says_nothing_was_scheduled(
    fleet: Fleet, sshd: SshdServer
) -> None:
    with socket.socket() as closed:  # a port nobody listens on: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    fleet.overrides["phonon"] = {
        "realtime_base_url": url,
        "bulk_base_url": url,
        "timeout_seconds": 1,
        "retry_budget_seconds": 2,
    }
    account = fleet.add(sshd)
    name, _ = account.drop()
    with Service(fleet.settings()) as service:
        service.poll_once()
        (upload,) = service.store.recent()
    assert account.listing()["Failure"] == [name]
    assert upload.reason is not None
    assert upload.reason.startswith("Phonon could not be reached"), upload.reason
    assert "Nothing was scheduled" in upload.reason
    # Nothing can have been called, so the same list may be uploaded again at once.
    assert [b.status for b in service.store.batches(upload.id)] == ["failed"]


def _plain_body(mail: Any) -> str:
    return str(mail.message.get_body(("plain",)).get_content())


# -- the mail server -----------------------------------------------------------------


def test_smtp_down_for_the_whole_run_then_back(
    fleet: Fleet, sshd: SshdServer, service_log: io.StringIO
) -> None:
    """Files are archived while the mail server is down; emails go out, once, when it is back."""
    account = fleet.add(sshd)
    dropped = [account.drop() for _ in range(3)]
    fleet.smtp.stop()
    offset = [timedelta(0)]
    with Service(fleet.settings(), clock=lambda: datetime.now(UTC) + offset[0]) as service:
        first = service.poll_once()
        assert first.emails_pending == 3
        assert len(account.archived()) == 3, "archiving never waits for the mail server"
        for hours in (1, 2):  # the queued emails are due again later: still down
            offset[0] = timedelta(hours=hours)
            assert service.poll_once().emails_pending == 3
        fleet.smtp.start()
        offset[0] = timedelta(hours=3)
        last = service.poll_once()
    assert (last.emails_sent, last.emails_pending) == (3, 0)
    _assert_exactly_once(fleet, 3, [n for _, numbers in dropped for n in numbers])
    events = json_events(service_log.getvalue())
    assert _errors(events) == ["email.failed"], "one alert for the whole mail outage"
    assert count_events(events, "email.recovered") == 1


# -- the state database --------------------------------------------------------------


def _through(proxy: TcpProxy, url: str) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


@pytest.mark.postgres
def test_state_database_briefly_unavailable(
    fleet: Fleet, sshd: SshdServer, pg_url: str, service_log: io.StringIO
) -> None:
    """PostgreSQL goes away, also in the middle of an upload; the next sweeps after it is back
    finish everything, with one alert per account for the outage."""
    target = make_url(pg_url)
    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        fleet.state_url = _through(proxy, pg_url)
        accounts = [fleet.add(sshd), fleet.add(sshd)]
        numbers: list[str] = []
        with Service(fleet.settings()) as service:
            for account in accounts:
                numbers += account.drop()[1]
            assert service.poll_once().unreachable == ()

            # Cut the database while the next uploads wait for Phonon's answer: recording
            # the sent batch fails, and the upload must resume without calling anyone twice.
            # Both accounts' requests are held, so neither can finish before the cut.
            requests = len(fleet.phonon.requests)
            fleet.phonon.inject("timeout", 2, after_receive=True, delay=1.5)
            cut = threading.Thread(
                target=_pause_when,
                args=(proxy, lambda: len(fleet.phonon.requests) > requests),
            )
            cut.start()
            for account in accounts:
                numbers += account.drop()[1]
            try:
                during = service.poll_once()
            finally:
                cut.join()
            assert proxy.paused
            assert len(during.unreachable) == 2, during
            assert service.poll_once().unreachable != ()  # still down: no new alert

            proxy.resume()
            after = service.poll_once()
            assert after.unreachable == (), after
        _assert_exactly_once(fleet, 4, numbers)
    events = json_events(service_log.getvalue())
    for account in accounts:
        assert count_events(events, "account.unavailable", customer=account.customer_id) == 1
        assert count_events(events, "account.recovered", customer=account.customer_id) == 1
    assert count_events(events, "outbox.state_unavailable") == 1
    assert count_events(events, "upload.resumed") >= 1


def _pause_when(proxy: TcpProxy, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    proxy.pause()
