"""Building Phonon requests: shape (SPEC 6), determinism, splitting, secrecy."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from sftp_watcher.calllist import CallRecord
from sftp_watcher.config import PhononConfig
from sftp_watcher.errors import PhononRejected
from sftp_watcher.phonon.requests import (
    MAX_BYTES,
    MAX_CLIENT_ID_CHARS,
    build_batches,
    client_identifier,
    empty_check_body,
    endpoint_url,
)
from tests.phonon.conftest import SECRET, make_flow, make_record


def test_body_has_exactly_the_documented_shape() -> None:
    [batch] = build_batches("u1", make_flow(api_version="TEST"), [make_record(2)])
    assert json.loads(batch.body) == {
        "api-version": "TEST",
        "security-id": SECRET,
        "flow-id": "o9vJavuB",
        "calls": [
            {
                "client-identifier": "u1-0-2",
                "start-time": "2026-02-08T21:12:00+05:30",
                "contact-numbers": ["918000000000", "918100000000"],
                "keys": [{"name": "$flow.key.Name", "value": "Asha"}],
            }
        ],
    }
    assert batch.client_ids == ("u1-0-2",)
    assert batch.lines == (2,)
    assert batch.index == 0


def test_body_is_compact_utf8_in_fixed_key_order() -> None:
    [batch] = build_batches("u1", make_flow(), [make_record(name="Ašha")])
    text = batch.body.decode("utf-8")
    assert text.startswith('{"api-version":"1.0","security-id":')
    assert '"calls":[{"client-identifier":"u1-0-2","start-time":' in text
    assert "Ašha" in text  # not \\u escaped
    assert ": " not in text and ", " not in text


def test_start_time_keeps_the_record_offset_at_seconds_precision() -> None:
    record = replace(make_record(), start_time=datetime(2026, 2, 8, 15, 42, 5, 123456, tzinfo=UTC))
    [batch] = build_batches("u1", make_flow(), [record])
    assert json.loads(batch.body)["calls"][0]["start-time"] == "2026-02-08T15:42:05+00:00"


def test_naive_start_time_is_refused() -> None:
    record = replace(make_record(), start_time=datetime(2026, 2, 8, 21, 12))
    with pytest.raises(ValueError, match="no time zone"):
        build_batches("u1", make_flow(), [record])


def test_same_upload_and_records_give_identical_bytes() -> None:
    records = [make_record(line) for line in range(2, 40)]
    first = build_batches("upload-7", make_flow(), records, max_calls=7)
    again = build_batches("upload-7", make_flow(), records, max_calls=7)
    assert [b.body for b in first] == [b.body for b in again]


def test_zip_members_get_distinct_identifiers_for_the_same_line() -> None:
    records = [make_record(2, member="a.csv"), make_record(2, member="b.csv")]
    [batch] = build_batches("u1", make_flow(), records)
    assert batch.client_ids == ("u1-0-2", "u1-1-2")


def test_long_upload_id_is_shortened_deterministically() -> None:
    long_id = "x" * 100
    ident = client_identifier(long_id, make_record(5), 3)
    assert len(ident) <= MAX_CLIENT_ID_CHARS
    assert ident.endswith("-3-5")
    assert ident == client_identifier(long_id, make_record(5), 3)
    assert ident != client_identifier("y" * 100, make_record(5), 3)


def test_split_at_500_calls() -> None:
    records = [make_record(line) for line in range(2, 1203)]  # 1201 calls
    batches = build_batches("u1", make_flow(), records)
    assert [b.calls for b in batches] == [500, 500, 201]
    assert [b.index for b in batches] == [0, 1, 2]
    assert [len(json.loads(b.body)["calls"]) for b in batches] == [500, 500, 201]
    assert sum((b.lines for b in batches), ()) == tuple(range(2, 1203))


def test_split_at_256_kb_respects_both_limits_and_fills_batches() -> None:
    big = "v" * 3000  # ~3.2 KB per call: about 80 calls fit in 256,000 bytes
    records = [make_record(line, name=big) for line in range(2, 302)]
    batches = build_batches("u1", make_flow(), records)
    sizes = [len(b.body) for b in batches]
    assert len(batches) > 1
    assert all(size <= MAX_BYTES for size in sizes)
    assert all(b.calls <= 500 for b in batches)
    one_call = len(batches[0].body) // batches[0].calls
    # Greedy: every batch but the last is too full to take one more call.
    assert all(size + one_call > MAX_BYTES for size in sizes[:-1])
    assert sum(b.calls for b in batches) == 300


def _records_of_body_size(size: int) -> list[CallRecord]:
    """80 records whose single request body is exactly ``size`` bytes."""
    records = [make_record(line, name="v" * 3000) for line in range(2, 82)]
    body = build_batches("u1", make_flow(), records, max_bytes=10**7)[0].body
    records[-1] = make_record(81, name="v" * (3000 + size - len(body)))
    return records


def test_a_request_body_is_at_most_256000_bytes() -> None:
    """SPEC 6: "256 KB" read as 256,000 bytes; a body of 256,001 bytes is split in two."""
    assert MAX_BYTES == 256_000
    [batch] = build_batches("u1", make_flow(), _records_of_body_size(256_000))
    assert len(batch.body) == 256_000
    batches = build_batches("u1", make_flow(), _records_of_body_size(256_001))
    assert [b.calls for b in batches] == [79, 1]
    assert all(len(b.body) <= 256_000 for b in batches)


def test_byte_limit_is_exact_at_the_boundary() -> None:
    records = [make_record(line) for line in range(2, 12)]
    whole = build_batches("u1", make_flow(), records)[0].body
    assert len(build_batches("u1", make_flow(), records, max_bytes=len(whole))) == 1
    assert len(build_batches("u1", make_flow(), records, max_bytes=len(whole) - 1)) == 2


def test_bodies_equal_plain_json_serialisation_of_their_calls() -> None:
    records = [make_record(line) for line in range(2, 30)]
    for batch in build_batches("u1", make_flow(), records, max_calls=9):
        parsed = json.loads(batch.body)
        assert json.dumps(parsed, ensure_ascii=False, separators=(",", ":")).encode() == batch.body


def test_single_call_larger_than_a_request_is_rejected() -> None:
    with pytest.raises(PhononRejected, match="line 2"):
        build_batches("u1", make_flow(), [make_record(2, name="v" * 5000)], max_bytes=4096)


def test_no_records_no_batches() -> None:
    assert build_batches("u1", make_flow(), []) == []


def test_secret_absent_from_batch_repr_but_present_in_body() -> None:
    [batch] = build_batches("u1", make_flow(), [make_record()])
    assert SECRET not in repr(batch)
    assert SECRET.encode() in batch.body


def test_empty_check_body_has_no_calls() -> None:
    body = json.loads(empty_check_body(make_flow()))
    assert body == {
        "api-version": "1.0",
        "security-id": SECRET,
        "flow-id": "o9vJavuB",
        "calls": [],
    }


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"type": "dialer"}, "https://rt.example/kairos-apis/outbounddialer/create"),
        ({"type": "multicast"}, "https://rt.example/kairos-apis/outbound/create"),
        (
            {"type": "multicast", "host": "bulk"},
            "https://bulk.example/kairos-apis/outbound/create",
        ),
    ],
)
def test_endpoint_url_by_flow_type_and_host(overrides: dict[str, str], expected: str) -> None:
    config = PhononConfig(
        realtime_base_url="https://rt.example/", bulk_base_url="https://bulk.example"
    )
    assert endpoint_url(make_flow(**overrides), config) == expected
