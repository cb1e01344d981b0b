"""Building Phonon outbound requests (SPEC 6): valid records become exact, bounded batches.

Pure: the same upload and records always give the very same bytes, so a retry or a
resume after a crash is recognised by Phonon as a repeat (code 201), never as new calls.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sftp_watcher.calllist.report import CallRecord
from sftp_watcher.config import FlowConfig, PhononConfig
from sftp_watcher.errors import PhononRejected

HostKind = Literal["realtime", "bulk"]

MAX_CALLS = 500  # Phonon's limit per request
# Phonon's "256 KB" a request, read as 256,000 bytes: the stricter of the two readings.
MAX_BYTES = 256_000
# Phonon documents no length limit for client-identifier; keep ids short enough for any
# reasonable column width on their side and in our reports.
MAX_CLIENT_ID_CHARS = 64

_DIALER_PATH = "/kairos-apis/outbounddialer/create"
_MULTICAST_PATH = "/kairos-apis/outbound/create"


@dataclass(frozen=True, slots=True)
class Batch:
    """One request body and, per call in it, our identifier and the record's line."""

    index: int
    # The body holds the flow's security id in clear: keep it out of reprs and logs.
    body: bytes = field(repr=False)
    client_ids: tuple[str, ...]
    lines: tuple[int, ...]

    @property
    def calls(self) -> int:
        return len(self.client_ids)


def host_kind(flow: FlowConfig) -> HostKind:
    """Dialer flows always use the real-time host; multicast flows use the one configured."""
    return "bulk" if flow.type == "multicast" and flow.host == "bulk" else "realtime"


def endpoint_url(flow: FlowConfig, config: PhononConfig) -> str:
    """The URL a flow's requests are POSTed to."""
    if flow.type == "dialer":
        return config.realtime_base_url.rstrip("/") + _DIALER_PATH
    base = config.bulk_base_url if host_kind(flow) == "bulk" else config.realtime_base_url
    return base.rstrip("/") + _MULTICAST_PATH


def client_identifier(upload_id: str, record: CallRecord, member_index: int) -> str:
    """Our id for one call: the same upload and row always give the same id.

    ``member_index`` tells zip members apart (0 for a plain .csv). An upload id too
    long to fit is replaced by a short digest of itself, which is still deterministic.
    """
    ident = f"{upload_id}-{member_index}-{record.line}"
    if len(ident) <= MAX_CLIENT_ID_CHARS:
        return ident
    digest = hashlib.sha256(upload_id.encode("utf-8")).hexdigest()[:24]
    return f"{digest}-{member_index}-{record.line}"


def build_batches(
    upload_id: str,
    flow: FlowConfig,
    records: Sequence[CallRecord],
    *,
    max_calls: int = MAX_CALLS,
    max_bytes: int = MAX_BYTES,
) -> list[Batch]:
    """Split ``records`` greedily into request bodies of at most ``max_calls`` and ``max_bytes``.

    Each call is encoded once and its size measured, so building is linear in the
    number of records. Members of a zip are numbered in order of first appearance.
    A single call that alone exceeds ``max_bytes`` raises ``PhononRejected``; with
    Phonon's 256,000-byte limit that would take kilobytes of variables in one row.
    """
    prefix = _envelope(flow, calls=[]).removesuffix(b"]}")
    suffix = b"]}"
    members: dict[str | None, int] = {}
    batches: list[Batch] = []
    calls: list[bytes] = []
    ids: list[str] = []
    lines: list[int] = []
    size = len(prefix) + len(suffix)

    def flush() -> None:
        nonlocal size
        body = prefix + b",".join(calls) + suffix
        batches.append(Batch(len(batches), body, tuple(ids), tuple(lines)))
        calls.clear()
        ids.clear()
        lines.clear()
        size = len(prefix) + len(suffix)

    for record in records:
        member_index = members.setdefault(record.member, len(members))
        ident = client_identifier(upload_id, record, member_index)
        encoded = _encode(_call(ident, record))
        if len(prefix) + len(encoded) + len(suffix) > max_bytes:
            raise PhononRejected(
                f"line {record.line}: one call is {len(encoded)} bytes, more than a whole "
                f"request may carry ({max_bytes} bytes); shorten its variables",
            )
        extra = len(encoded) + (1 if calls else 0)  # the comma between calls
        if len(calls) >= max_calls or size + extra > max_bytes:
            flush()
            extra = len(encoded)
        calls.append(encoded)
        ids.append(ident)
        lines.append(record.line)
        size += extra
    if calls:
        flush()
    return batches


def empty_check_body(flow: FlowConfig) -> bytes:
    """A request with no calls: Phonon answers 302 when flow, secret and IP are right."""
    return _envelope(flow, calls=[])


def _envelope(flow: FlowConfig, *, calls: list[Any]) -> bytes:
    return _encode(
        {
            "api-version": flow.api_version,
            "security-id": flow.security_id.get_secret_value(),
            "flow-id": flow.id,
            "calls": calls,
        },
    )


def _call(ident: str, record: CallRecord) -> dict[str, Any]:
    if record.start_time.utcoffset() is None:
        raise ValueError(f"line {record.line}: start time {record.start_time} has no time zone")
    return {
        "client-identifier": ident,
        "start-time": record.start_time.isoformat(timespec="seconds"),
        "contact-numbers": list(record.numbers),
        "keys": [{"name": name, "value": value} for name, value in record.variables],
    }


def _encode(value: Any) -> bytes:
    # Fixed key order (insertion), compact separators, UTF-8: the bytes never vary.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
