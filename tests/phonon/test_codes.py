"""Judging Phonon's answers: by code and host, never by HTTP status alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sftp_watcher.phonon.client import RetryPolicy
from sftp_watcher.phonon.codes import IP_FIX, Verdict, diagnose, judge, parse_retry_after


def phonon_body(code: int, message: str = "msg", details: object = None) -> bytes:
    return json.dumps(
        {
            "api-response-code": code,
            "api-response-message": message,
            "request-id": "r-1",
            "call-details": details,
        }
    ).encode()


@pytest.mark.parametrize(
    ("host", "http_status", "code", "verdict"),
    [
        ("realtime", 200, 200, Verdict.ACCEPTED),
        ("bulk", 202, 202, Verdict.ACCEPTED),
        ("realtime", 200, 202, Verdict.REJECTED),  # Invalid Security ID
        ("realtime", 202, 202, Verdict.REJECTED),
        ("bulk", 401, 202, Verdict.REJECTED),  # 202 without HTTP 202 is not "Accepted"
        ("realtime", 200, 201, Verdict.REPEATED),
        ("realtime", 200, 209, Verdict.PARTIAL),
        ("realtime", 200, 500, Verdict.RETRY),
        ("realtime", 500, 500, Verdict.RETRY),
        ("realtime", 200, 207, Verdict.REJECTED),  # error code with HTTP 200
        ("realtime", 503, 212, Verdict.REJECTED),  # the code wins over a retryable status
        ("realtime", 400, 400, Verdict.REJECTED),
    ],
)
def test_phonon_json_is_judged_by_code_and_host(
    host: str, http_status: int, code: int, verdict: Verdict
) -> None:
    answer = judge(host, http_status, phonon_body(code), None)  # type: ignore[arg-type]
    assert answer.verdict is verdict
    assert answer.code == code


@pytest.mark.parametrize(
    ("host", "http_status", "verdict"),
    [
        ("realtime", 503, Verdict.RETRY),
        ("realtime", 502, Verdict.RETRY),
        ("realtime", 429, Verdict.RETRY),
        ("bulk", 403, Verdict.REJECTED),
        ("realtime", 200, Verdict.REJECTED),  # 2xx alone is never success
        ("bulk", 202, Verdict.REJECTED),
        ("realtime", 404, Verdict.REJECTED),
    ],
)
def test_answers_without_phonon_json_are_judged_by_status(
    host: str, http_status: int, verdict: Verdict
) -> None:
    answer = judge(host, http_status, b"<html>oops</html>", None)  # type: ignore[arg-type]
    assert answer.verdict is verdict
    assert answer.code is None


def test_call_details_are_read_in_order() -> None:
    details = [
        {"client-identifier": "u-0-2", "phonon-uuid": "p1"},
        {"client-identifier": "u-0-3", "phonon-uuid": "p2"},
    ]
    answer = judge("realtime", 200, phonon_body(200, "Success", details), None)
    assert answer.call_details == (("u-0-2", "p1"), ("u-0-3", "p2"))
    assert answer.request_id == "r-1"


def test_retry_after_in_seconds_and_as_http_date() -> None:
    now = datetime(2026, 2, 8, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Sun, 08 Feb 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sun, 08 Feb 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_backoff_is_full_jitter_capped_and_retry_after_wins() -> None:
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=60.0)
    assert policy.delay(1, None, 0.5) == 0.5
    assert policy.delay(4, None, 0.5) == 4.0
    assert policy.delay(20, None, 0.999) == pytest.approx(59.94)
    assert policy.delay(3, 12.0, 0.1) == 12.0


@pytest.mark.parametrize(
    ("host", "http_status", "body", "ok", "fix_mentions"),
    [
        ("realtime", 200, phonon_body(302), True, ""),
        ("realtime", 200, phonon_body(202), False, "security id"),
        ("bulk", 401, phonon_body(202), False, "security id"),
        ("realtime", 200, phonon_body(301), False, "flows[].id"),
        ("realtime", 200, phonon_body(401), False, "whitelist"),
        ("bulk", 403, b"Forbidden", False, "whitelist"),
        ("realtime", 200, phonon_body(203), False, "api_version"),
        ("realtime", 200, phonon_body(304), False, "api_version"),
        ("realtime", 503, b"busy", False, "again later"),
    ],
)
def test_diagnosis_of_an_empty_list_check(
    host: str, http_status: int, body: bytes, ok: bool, fix_mentions: str
) -> None:
    check = diagnose(host, judge(host, http_status, body, None))  # type: ignore[arg-type]
    assert check.ok is ok
    assert fix_mentions in check.fix
    assert bool(check.fix) is not ok


def test_ip_fix_says_the_egress_ip_must_be_whitelisted() -> None:
    assert "egress IP" in IP_FIX
