"""What Phonon's answers mean (SPEC 6): the response-code table, the verdict on one answer,
and the onboarding diagnosis of an empty-list check. Pure: no I/O, no clock of its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from sftp_watcher.phonon.requests import HostKind


class Verdict(StrEnum):
    ACCEPTED = "accepted"  # Phonon took every call
    PARTIAL = "partial"  # code 209: Phonon took some calls; resending would not help
    REPEATED = "repeated"  # code 201: these exact bytes were already received
    RETRY = "retry"  # temporary: try again later with the same bytes
    REJECTED = "rejected"  # permanent for this batch


@dataclass(frozen=True, slots=True)
class PhononCode:
    code: int
    name: str
    fix: str


_TABLE = (
    PhononCode(200, "Success", ""),
    PhononCode(201, "Checksum Repeated", "Phonon already received these exact calls."),
    PhononCode(
        202,
        "Invalid Security ID",
        "Copy the flow's 64-character security id from the Phonon console into "
        "flows[].security_id (it changes when the flow's secret is regenerated).",
    ),
    PhononCode(
        203,
        "API version not supported",
        'Set flows[].api_version to "1.0" (or "TEST" for the flow\'s testing version).',
    ),
    PhononCode(205, "Invalid Contact Number", "Correct the contact numbers of the rejected rows."),
    PhononCode(207, "DID Not Mapped", "Ask Phonon to map a DID (caller number) to this flow."),
    PhononCode(209, "Partial Success", "Check which calls Phonon accepted in the request details."),
    PhononCode(
        210,
        "Invalid Mandatory Parameters",
        "Check that the flow's variables match the file's columns and the flow's configuration.",
    ),
    PhononCode(211, "Validity Expired", "Renew the Phonon account's validity."),
    PhononCode(212, "Insufficient Balance", "Top up the Phonon account's balance."),
    PhononCode(
        301,
        "Invalid Flow ID",
        "Check flows[].id against the Phonon console and that flows[].type "
        "(dialer or multicast) matches the flow.",
    ),
    PhononCode(302, "Empty Call List", ""),
    PhononCode(303, "Max Data List Size Exceeded", "Send at most 500 calls and 256 KB a request."),
    PhononCode(
        304,
        "Invalid Flow Version",
        'Publish the flow in the Phonon console, or set flows[].api_version to "TEST".',
    ),
    PhononCode(400, "Invalid Format", "The request was not understood; report this as a bug."),
    PhononCode(
        401,
        "IP Not Whitelisted",
        "Ask Phonon to whitelist this service's egress IP address for the account "
        "(we cannot tell which address Phonon sees; check it on the host).",
    ),
    PhononCode(402, "Phone Not Whitelisted", "Ask Phonon to whitelist the numbers being called."),
    PhononCode(500, "Failure", "Phonon failed; try again later."),
)
CODES: Mapping[int, PhononCode] = {c.code: c for c in _TABLE}

IP_FIX = CODES[401].fix
NETWORK_FIX = (
    "Check that this host can reach Phonon over HTTPS (DNS, firewall, proxy) and that "
    "phonon.realtime_base_url / phonon.bulk_base_url are right."
)

# Answers without Phonon's JSON that are worth retrying (a proxy or load balancer spoke).
_RETRY_HTTP = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer, judged."""

    verdict: Verdict
    http_status: int
    code: int | None  # Phonon's api-response-code; None when the body was not Phonon's JSON
    message: str
    request_id: str | None = None
    call_details: tuple[tuple[str, str], ...] = ()
    retry_after: float | None = None

    def describe(self) -> str:
        """``207 DID Not Mapped`` or ``HTTP 503``: for errors and logs."""
        if self.code is None:
            return f"HTTP {self.http_status}" + (f": {self.message}" if self.message else "")
        return f"{self.code} {self.message}"


@dataclass(frozen=True, slots=True)
class FlowCheck:
    """The result of checking one flow without placing a call (``setup-test``)."""

    ok: bool
    code: int | None
    http_status: int | None
    message: str
    fix: str
    skipped: bool = False  # nothing was asked of Phonon (dry run)


def judge(host: HostKind, http_status: int, body: bytes, retry_after: float | None) -> Answer:
    """Read an answer as SPEC 6 says: by Phonon's code whenever there is one, with the host."""
    payload = _phonon_json(body)
    if payload is None:
        return _judge_bare(host, http_status, retry_after)
    code = payload["api-response-code"]
    message = str(payload.get("api-response-message") or _name(code))
    request_id = payload.get("request-id")
    return Answer(
        _verdict(host, http_status, code),
        http_status,
        code,
        message,
        request_id=str(request_id) if request_id is not None else None,
        call_details=_call_details(payload.get("call-details")),
        retry_after=retry_after,
    )


def diagnose(host: HostKind, answer: Answer) -> FlowCheck:
    """Turn the answer to an empty call list into a pass/fail with what to fix."""
    code = answer.code
    ok = code == 302 or (answer.verdict is Verdict.ACCEPTED)
    if ok:
        fix = ""
    elif code is None and answer.http_status == 403 and host == "bulk":
        fix = IP_FIX
    elif code == 202 and host == "bulk":
        fix = CODES[202].fix  # a 202 that is not HTTP 202 "Accepted"
    elif answer.verdict is Verdict.RETRY:
        fix = "Phonon is failing or busy right now; run the check again later."
    elif code is not None and code in CODES:
        fix = CODES[code].fix
    else:
        fix = "Unexpected answer from Phonon; check the base URLs and contact Phonon support."
    return FlowCheck(ok, code, answer.http_status, answer.describe(), fix)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), else None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT by definition
        return None
    return max(0.0, (when - now).total_seconds())


def _verdict(host: HostKind, http_status: int, code: int) -> Verdict:
    if code == 200:
        return Verdict.ACCEPTED
    if code == 202:
        # Bulk's success is HTTP 202 + code 202; the same code on the real-time host (or
        # without HTTP 202) is "Invalid Security ID".
        return Verdict.ACCEPTED if host == "bulk" and http_status == 202 else Verdict.REJECTED
    if code == 201:
        return Verdict.REPEATED
    if code == 209:
        return Verdict.PARTIAL
    if code == 500:
        return Verdict.RETRY
    return Verdict.REJECTED


def _judge_bare(host: HostKind, http_status: int, retry_after: float | None) -> Answer:
    if http_status in _RETRY_HTTP or 500 <= http_status <= 599:
        return Answer(Verdict.RETRY, http_status, None, "", retry_after=retry_after)
    if http_status == 403 and host == "bulk":
        return Answer(Verdict.REJECTED, http_status, None, "IP not whitelisted on the bulk host")
    # Never take a 2xx alone for success: without Phonon's code we cannot know.
    return Answer(Verdict.REJECTED, http_status, None, "answer is not Phonon's JSON")


def _phonon_json(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    code = payload.get("api-response-code")
    if isinstance(code, str) and code.isdigit():
        payload["api-response-code"] = code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    return payload


def _call_details(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        (str(item.get("client-identifier")), str(item.get("phonon-uuid")))
        for item in value
        if isinstance(item, dict)
    )


def _name(code: int) -> str:
    entry = CODES.get(code)
    return entry.name if entry else "Unknown code"
