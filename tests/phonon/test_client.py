"""The HTTP client against the Phonon stub on loopback: success, retries, permanent failures."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from structlog.testing import capture_logs

from sftp_watcher.config import PhononConfig
from sftp_watcher.errors import PhononRejected, PhononTemporaryError
from sftp_watcher.phonon.client import PhononClient
from sftp_watcher.phonon.requests import Batch, build_batches
from tests.phonon.conftest import SECRET, FakeClock, make_flow, make_record
from tests.servers.phonon_stub import PhononStub

DIALER = make_flow("o9vJavuB")
BULK = make_flow("bULKfl0w", type="multicast", host="bulk")
FAR = 10_000.0  # a deadline (fake monotonic seconds) that is never reached


def one_batch(flow: object = DIALER, lines: int = 3) -> Batch:
    records = [make_record(line) for line in range(2, 2 + lines)]
    [batch] = build_batches("up1", flow, records)  # type: ignore[arg-type]
    return batch


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens (a port just bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def _flows(phonon_stub: PhononStub) -> None:
    phonon_stub.register_flow(DIALER.id, SECRET)
    phonon_stub.register_flow(BULK.id, SECRET, type="multicast")


def test_realtime_success_returns_request_id_and_call_details(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    batch = one_batch()
    result = client.send(DIALER, batch, deadline=clock() + FAR)
    assert (result.code, result.http_status, result.repeated, result.attempts) == (
        200,
        200,
        False,
        1,
    )
    assert result.request_id
    assert [ident for ident, _ in result.call_details] == list(batch.client_ids)
    [request] = phonon_stub.requests
    assert request.body == batch.body  # the exact bytes
    assert request.content_type == "application/json"
    assert request.path == "/kairos-apis/outbounddialer/create"
    assert sorted(phonon_stub.calls_by_client_id()) == sorted(batch.client_ids)


def test_bulk_success_is_http_202_code_202_without_call_details(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    result = client.send(BULK, one_batch(BULK), deadline=clock() + FAR)
    assert (result.code, result.http_status, result.message) == (202, 202, "Accepted")
    assert result.call_details == ()
    assert phonon_stub.requests[0].host == "bulk"
    assert len(phonon_stub.accepted_calls) == 3


def test_repeat_after_a_timed_out_attempt_is_success_and_calls_are_placed_once(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    phonon_stub.inject("timeout", after_receive=True)
    with capture_logs() as logs:
        result = client.send(DIALER, one_batch(), deadline=clock() + FAR)
    assert result.repeated is True
    assert (result.code, result.attempts) == (201, 2)
    assert all(len(calls) == 1 for calls in phonon_stub.calls_by_client_id().values())
    assert len(phonon_stub.accepted_calls) == 3
    assert [e["event"] for e in logs] == ["phonon.attempt_failed", "phonon.batch_sent"]


def test_repeat_on_resume_is_success_without_warning(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    batch = one_batch()
    client.send(DIALER, batch, deadline=clock() + FAR)
    with capture_logs() as logs:
        result = client.send(DIALER, batch, deadline=clock() + FAR, resumed=True)
    assert result.repeated is True
    assert "phonon.unexpected_repeat" not in [e["event"] for e in logs]


def test_unexpected_repeat_is_success_but_logged_as_warning(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    batch = one_batch()
    client.send(DIALER, batch, deadline=clock() + FAR)
    with capture_logs() as logs:
        result = client.send(DIALER, batch, deadline=clock() + FAR)
    assert result.repeated is True
    assert {"event": "phonon.unexpected_repeat", "log_level": "warning"}.items() <= logs[0].items()
    assert len(phonon_stub.accepted_calls) == 3


def test_http_503_is_retried_then_succeeds(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    phonon_stub.inject("http503", count=2)
    result = client.send(DIALER, one_batch(), deadline=clock() + FAR)
    assert (result.code, result.attempts, result.repeated) == (200, 3, False)
    assert len(clock.sleeps) == 2
    assert clock.sleeps[0] <= 1.0 and clock.sleeps[1] <= 2.0  # full jitter, base 1 s


def test_connection_dropped_without_answer_is_retried(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    phonon_stub.inject("disconnect")
    result = client.send(DIALER, one_batch(), deadline=clock() + FAR)
    assert (result.code, result.attempts) == (200, 2)


@pytest.mark.parametrize("retry_after", ["7", "Thu, 01 Jan 2099 00:00:07 GMT"])
def test_http_429_honours_retry_after(
    phonon_stub: PhononStub, clock: FakeClock, retry_after: str
) -> None:
    config = PhononConfig(realtime_base_url=phonon_stub.realtime_url, timeout_seconds=2)
    wall = datetime(2099, 1, 1, tzinfo=UTC)
    phonon_stub.inject("http429", retry_after=retry_after)
    with PhononClient(config, sleep=clock.sleep, clock=clock, now=lambda: wall) as phonon:
        result = phonon.send(DIALER, one_batch(), deadline=clock() + FAR)
    assert result.attempts == 2
    assert clock.sleeps == [7.0]


def test_body_code_500_is_retried(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    phonon_stub.inject("code500")
    result = client.send(DIALER, one_batch(), deadline=clock() + FAR)
    assert (result.code, result.attempts) == (200, 2)


@pytest.mark.parametrize(
    ("fault", "code", "message"),
    [
        ("code207", 207, "DID Not Mapped"),
        ("code212", 212, "Insufficient Balance"),
        ("code400", 400, "Invalid Format"),
    ],
)
def test_permanent_codes_raise_rejected_with_code_and_message_without_retry(
    client: PhononClient,
    phonon_stub: PhononStub,
    clock: FakeClock,
    fault: str,
    code: int,
    message: str,
) -> None:
    phonon_stub.inject(fault)
    with pytest.raises(PhononRejected) as caught:
        client.send(DIALER, one_batch(), deadline=clock() + FAR)
    assert caught.value.code == code
    assert message in str(caught.value)
    assert len(phonon_stub.requests) == 1
    assert clock.sleeps == []


def test_unknown_flow_is_rejected_301(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    flow = make_flow("unknwn01")
    with pytest.raises(PhononRejected) as caught:
        client.send(flow, one_batch(flow), deadline=clock() + FAR)
    assert caught.value.code == 301
    assert "Invalid Flow ID" in str(caught.value)


def test_invalid_number_is_rejected_205(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    record = replace(make_record(), numbers=("12",))
    [batch] = build_batches("up1", DIALER, [record])
    with pytest.raises(PhononRejected) as caught:
        client.send(DIALER, batch, deadline=clock() + FAR)
    assert caught.value.code == 205


def test_wrong_security_id_on_realtime_is_code_202_rejected(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    flow = make_flow(DIALER.id, security_id="wrong")
    with pytest.raises(PhononRejected) as caught:
        client.send(flow, one_batch(flow), deadline=clock() + FAR)
    assert (caught.value.code, caught.value.http_status) == (202, 200)


def test_deadline_exhausted_raises_temporary_error_with_attempt_count(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    phonon_stub.inject("http503", count=100)
    deadline = clock() + 5.0
    with pytest.raises(PhononTemporaryError) as caught:
        client.send(DIALER, one_batch(), deadline=deadline)
    attempts = len(phonon_stub.requests)
    assert attempts >= 2
    assert f"after {attempts} attempt(s)" in str(caught.value)
    assert caught.value.http_status == 503
    assert clock() <= deadline  # never slept past the deadline
    assert phonon_stub.accepted_calls == []
    assert caught.value.maybe_received, "a gateway's 503 may hide a request Phonon took"


def test_retry_after_beyond_deadline_gives_up_at_once(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    phonon_stub.inject("http429", retry_after="3600")
    with pytest.raises(PhononTemporaryError) as caught:
        client.send(DIALER, one_batch(), deadline=clock() + 60)
    assert clock.sleeps == []
    assert caught.value.retry_after == 3600
    assert not caught.value.maybe_received, "a rate limit is an answer: not taken"


def test_http_403_on_bulk_is_permanent(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    phonon_stub.ip_whitelisted = False
    with pytest.raises(PhononRejected) as caught:
        client.send(BULK, one_batch(BULK), deadline=clock() + FAR)
    assert (caught.value.code, caught.value.http_status) == (None, 403)
    assert "whitelisted" in str(caught.value)
    assert len(phonon_stub.requests) == 1


def test_unreachable_phonon_is_temporary(clock: FakeClock, dead_url: str) -> None:
    config = PhononConfig(realtime_base_url=dead_url, timeout_seconds=1)
    with (
        PhononClient(config, sleep=clock.sleep, clock=clock) as phonon,
        pytest.raises(PhononTemporaryError) as caught,
    ):
        phonon.send(DIALER, one_batch(), deadline=clock() + 3)
    assert "connection failed" in str(caught.value)
    assert isinstance(caught.value.__cause__, PhononTemporaryError)
    assert isinstance(caught.value.__cause__.__cause__, httpx.ConnectError)
    assert not caught.value.maybe_received, "a refused connection carried nothing"


def test_giving_up_after_a_read_timeout_says_phonon_may_have_the_batch(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    phonon_stub.inject("timeout", count=100, after_receive=True, delay=1.5)
    with pytest.raises(PhononTemporaryError) as caught:
        client.send(DIALER, one_batch(), deadline=clock() + 1)
    assert caught.value.maybe_received


def test_logs_never_carry_the_body_or_secret(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    phonon_stub.inject("code500")
    with capture_logs() as logs:
        client.send(DIALER, one_batch(), deadline=clock() + FAR)
    assert [e["event"] for e in logs] == ["phonon.attempt_failed", "phonon.batch_sent"]
    sent = logs[-1]
    assert sent["flow_id"] == DIALER.id and sent["batch"] == 0 and sent["code"] == 200
    assert "request_id" in sent and "duration_ms" in sent
    text = json.dumps(logs, default=str)
    assert SECRET not in text
    assert "918000000000" not in text


@pytest.mark.parametrize(
    ("setup", "flow", "ok", "code", "http_status", "fix_mentions"),
    [
        (None, DIALER, True, 302, 200, ""),
        (None, make_flow(DIALER.id, security_id="wrong"), False, 202, 200, "security id"),
        (None, make_flow("nOtKnOwN"), False, 301, 200, "flows[].id"),
        ("no-ip", DIALER, False, 401, 200, "egress IP"),
        ("no-ip", BULK, False, None, 403, "egress IP"),
        (None, BULK, True, 302, 200, ""),
    ],
)
def test_check_flow_diagnoses(
    client: PhononClient,
    phonon_stub: PhononStub,
    setup: str | None,
    flow: object,
    ok: bool,
    code: int | None,
    http_status: int,
    fix_mentions: str,
) -> None:
    if setup == "no-ip":
        phonon_stub.ip_whitelisted = False
    check = client.check_flow(flow)  # type: ignore[arg-type]
    assert (check.ok, check.code, check.http_status) == (ok, code, http_status)
    assert fix_mentions in check.fix
    assert phonon_stub.accepted_calls == []
    assert len(phonon_stub.requests) == 1  # once, no retries


def test_check_flow_unreachable_says_network(dead_url: str) -> None:
    config = PhononConfig(realtime_base_url=dead_url, timeout_seconds=1)
    with PhononClient(config) as phonon:
        check = phonon.check_flow(DIALER)
    assert not check.ok
    assert check.code is None
    assert "reach" in check.message
    assert "firewall" in check.fix


def test_wrong_security_id_on_bulk_is_rejected_not_taken_for_accepted(
    client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    flow = make_flow(BULK.id, type="multicast", host="bulk", security_id="wrong")
    with pytest.raises(PhononRejected) as caught:
        client.send(flow, one_batch(flow), deadline=clock() + FAR)
    assert (caught.value.code, caught.value.http_status) == (202, 401)
    assert phonon_stub.accepted_calls == []
