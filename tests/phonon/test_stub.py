"""The Phonon stub itself speaks SPEC 6, so that client tests against it mean something."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sftp_watcher.phonon.requests import build_batches
from tests.phonon.conftest import SECRET, make_flow, make_record
from tests.servers.phonon_stub import PhononStub

PATH = "/kairos-apis/outbounddialer/create"


def call(ident: str = "u-0-2", number: str = "918000000000") -> dict[str, Any]:
    return {
        "client-identifier": ident,
        "start-time": "2026-02-08T21:12:00+05:30",
        "contact-numbers": [number],
        "keys": [],
    }


def post(stub: PhononStub, body: bytes) -> tuple[int, dict[str, Any]]:
    with httpx.Client() as http:
        response = http.post(stub.realtime_url + PATH, content=body)
    return response.status_code, response.json()


def envelope(calls: list[Any]) -> bytes:
    return json.dumps(
        {"api-version": "1.0", "security-id": SECRET, "flow-id": "flow0001", "calls": calls}
    ).encode()


@pytest.fixture(autouse=True)
def _flow(phonon_stub: PhononStub) -> None:
    phonon_stub.register_flow("flow0001", SECRET)


@pytest.mark.parametrize(
    ("body", "http_status", "code"),
    [
        (b"{not json", 400, 400),
        (envelope([]), 200, 302),
        (envelope([call(f"u-0-{i}") for i in range(501)]), 200, 303),
        (envelope([call(number="+918000000000")]), 200, 205),
        (envelope([{"client-identifier": "u-0-2"}]), 200, 210),
        (envelope([call()]).replace(b'"1.0"', b'"2.0"'), 200, 203),
        (envelope([call()]).replace(b"flow0001", b"flow0002"), 200, 301),
    ],
)
def test_stub_answers_documented_codes(
    phonon_stub: PhononStub, body: bytes, http_status: int, code: int
) -> None:
    status, payload = post(phonon_stub, body)
    assert (status, payload["api-response-code"]) == (http_status, code)
    assert phonon_stub.accepted_calls == []


def test_body_over_256_kb_is_303(phonon_stub: PhononStub) -> None:
    big = [dict(call(f"u-0-{i}"), keys=[{"name": "n", "value": "v" * 3000}]) for i in range(100)]
    _, payload = post(phonon_stub, envelope(big))
    assert payload["api-response-code"] == 303


def test_bodies_built_with_the_default_limit_are_never_too_large(phonon_stub: PhononStub) -> None:
    records = [make_record(line, name="v" * 3000) for line in range(2, 302)]
    batches = build_batches("u1", make_flow("flow0001"), records)
    assert [post(phonon_stub, b.body)[1]["api-response-code"] for b in batches] == [200] * len(
        batches
    )


def test_byte_identical_repeat_of_an_accepted_body_is_201(phonon_stub: PhononStub) -> None:
    body = envelope([call()])
    assert post(phonon_stub, body)[1]["api-response-code"] == 200
    assert post(phonon_stub, body)[1]["api-response-code"] == 201
    assert len(phonon_stub.calls_by_client_id()["u-0-2"]) == 1


def test_reset_forgets_flows_and_records(phonon_stub: PhononStub) -> None:
    post(phonon_stub, envelope([call()]))
    phonon_stub.reset()
    assert phonon_stub.requests == [] and phonon_stub.accepted_calls == []
    assert post(phonon_stub, envelope([call()]))[1]["api-response-code"] == 301
