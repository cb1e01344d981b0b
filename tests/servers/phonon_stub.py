"""A stub of Phonon's outbound API (SPEC 6) on 127.0.0.1, with fault injection.

Two HTTP servers, the real-time host and the bulk host, share one state. Where
Phonon's documentation is silent the stub makes a choice, noted where it is made:

- an invalid security id on the bulk host answers HTTP 401 with code 202 "Invalid
  Security ID" (the bulk host's success is HTTP 202 + code 202, so only the HTTP
  status tells them apart there);
- 400 Invalid Format comes with HTTP 400, 500 Failure with HTTP 500, every other code
  with HTTP 200 (a client must judge by the code, whatever the status);
- a flow used on the wrong path (dialer flow on the multicast path) is 301 Invalid Flow ID;
- 201 Checksum Repeated answers a byte-identical repeat of an accepted body only.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest

HostKind = Literal["realtime", "bulk"]

DIALER_PATH = "/kairos-apis/outbounddialer/create"
MULTICAST_PATH = "/kairos-apis/outbound/create"
MAX_CALLS = 500
MAX_BYTES = 256_000  # SPEC 6's stricter reading of 256 KB

MESSAGES = {
    200: "Success",
    201: "Checksum Repeated",
    202: "Invalid Security ID",
    203: "API version not supported",
    205: "Invalid Contact Number",
    207: "DID Not Mapped",
    209: "Partial Success",
    210: "Invalid Mandatory Parameters",
    211: "Validity Expired",
    212: "Insufficient Balance",
    301: "Invalid Flow ID",
    302: "Empty Call List",
    303: "Max Data List Size Exceeded",
    304: "Invalid Flow Version",
    400: "Invalid Format",
    401: "IP Not Whitelisted",
    402: "Phone Not Whitelisted",
    500: "Failure",
}


@dataclass(frozen=True)
class StubRequest:
    host: HostKind
    path: str
    body: bytes
    content_type: str | None


@dataclass(frozen=True)
class Fault:
    kind: str  # http503 | http429 | code500 | code<NNN> | timeout | disconnect
    retry_after: str | None = None  # http429: the Retry-After header
    after_receive: bool = False  # timeout/disconnect: accept the body first, then drop
    delay: float = 2.0  # timeout: how long to hold the connection before dropping it


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class _Flow:
    security_id: str
    type: str


@dataclass
class _State:
    flows: dict[str, _Flow] = field(default_factory=dict)
    ip_whitelisted: bool = True
    faults: list[Fault] = field(default_factory=list)
    requests: list[StubRequest] = field(default_factory=list)
    accepted_calls: list[dict[str, Any]] = field(default_factory=list)
    accepted_digests: set[str] = field(default_factory=set)


def _phonon(
    status: int,
    code: int,
    *,
    message: str | None = None,
    call_details: list[dict[str, str]] | None = None,
) -> _Reply:
    payload = {
        "api-response-code": code,
        "api-response-message": message or MESSAGES.get(code, "Error"),
        "request-id": str(uuid.uuid4()),
        "call-details": call_details,
    }
    return _Reply(status, json.dumps(payload).encode())


def _http_status_for(code: int) -> int:
    return {400: 400, 500: 500}.get(code, 200)


class PhononStub:
    """The stub; ``realtime_url`` and ``bulk_url`` are the two hosts' base URLs."""

    def __init__(self, *, keep_alive: bool = False) -> None:
        """``keep_alive``: answer in HTTP/1.1 and keep connections open, as Phonon's hosts
        do (the benchmarks); the tests' default closes each connection after its answer."""
        self._lock = threading.Lock()
        self._state = _State()
        self._wake = threading.Event()
        self._servers: dict[HostKind, ThreadingHTTPServer] = {}
        self._threads: list[threading.Thread] = []
        for host in ("realtime", "bulk"):
            server = _Server(("127.0.0.1", 0), _KeepAliveHandler if keep_alive else _Handler)
            # An idle kept-alive connection holds its handler thread: don't join those.
            server.daemon_threads = keep_alive
            server.stub = self
            server.host_kind = host
            thread = threading.Thread(target=server.serve_forever, name=f"phonon-stub-{host}")
            thread.start()
            self._servers[host] = server
            self._threads.append(thread)
        self.realtime_url = self._url("realtime")
        self.bulk_url = self._url("bulk")

    def _url(self, host: HostKind) -> str:
        port = self._servers[host].server_address[1]
        return f"http://127.0.0.1:{port}"

    # -- set-up -------------------------------------------------------------------------

    def register_flow(self, flow_id: str, security_id: str, type: str = "dialer") -> None:
        with self._lock:
            self._state.flows[flow_id] = _Flow(security_id, type)

    @property
    def ip_whitelisted(self) -> bool:
        return self._state.ip_whitelisted

    @ip_whitelisted.setter
    def ip_whitelisted(self, value: bool) -> None:
        with self._lock:
            self._state.ip_whitelisted = value

    def inject(
        self,
        kind: str,
        count: int = 1,
        *,
        retry_after: str | None = None,
        after_receive: bool = False,
        delay: float = 2.0,
    ) -> None:
        """Queue ``count`` faults, each answering (or dropping) the next request on any host."""
        fault = Fault(kind, retry_after, after_receive, delay)
        with self._lock:
            self._state.faults.extend([fault] * count)

    def reset(self) -> None:
        """Forget flows, faults and records; wake any request held by a timeout fault."""
        with self._lock:
            self._state = _State()
            self._wake.set()
            self._wake = threading.Event()

    def close(self) -> None:
        self._wake.set()
        for server in self._servers.values():
            server.shutdown()
            server.server_close()  # joins the handler threads (daemon_threads is off)
        for thread in self._threads:
            thread.join()

    # -- records ------------------------------------------------------------------------

    @property
    def requests(self) -> list[StubRequest]:
        with self._lock:
            return list(self._state.requests)

    @property
    def accepted_calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._state.accepted_calls)

    def calls_by_client_id(self) -> dict[str, list[dict[str, Any]]]:
        """Accepted calls grouped by client-identifier: any list longer than 1 is a double call."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for call in self.accepted_calls:
            grouped.setdefault(call["client-identifier"], []).append(call)
        return grouped

    # -- the API ------------------------------------------------------------------------

    def handle(
        self, host: HostKind, path: str, body: bytes, content_type: str | None
    ) -> _Reply | None:
        """Answer one request; None means: drop the connection without an answer."""
        with self._lock:
            self._state.requests.append(StubRequest(host, path, body, content_type))
            fault = self._state.faults.pop(0) if self._state.faults else None
            wake = self._wake
        if fault is None:
            return self._answer(host, path, body)
        if fault.kind in {"timeout", "disconnect"}:
            if fault.after_receive:
                self._answer(host, path, body)
            if fault.kind == "timeout":
                wake.wait(fault.delay)
            return None
        return _fault_reply(fault)

    def _answer(self, host: HostKind, path: str, body: bytes) -> _Reply:
        known = {MULTICAST_PATH} if host == "bulk" else {DIALER_PATH, MULTICAST_PATH}
        if path not in known:
            return _Reply(404, b"Not Found", "text/plain")
        with self._lock:
            if not self._state.ip_whitelisted:
                if host == "bulk":
                    return _Reply(403, b"<html><body>403 Forbidden</body></html>", "text/html")
                return _phonon(200, 401)
            if len(body) > MAX_BYTES:
                return _phonon(200, 303)
            try:
                request = json.loads(body)
            except ValueError:
                return _phonon(400, 400)
            if not isinstance(request, dict):
                return _phonon(400, 400)
            reply = self._check_envelope(host, path, request)
            if reply is not None:
                return reply
            digest = hashlib.sha256(body).hexdigest()
            if digest in self._state.accepted_digests:
                return _phonon(200, 201)
            reply = _check_calls(request.get("calls"))
            if reply is not None:
                return reply
            self._state.accepted_digests.add(digest)
            details = []
            for call in request["calls"]:
                self._state.accepted_calls.append({**call, "flow-id": request["flow-id"]})
                details.append(
                    {
                        "client-identifier": call["client-identifier"],
                        "phonon-uuid": str(uuid.uuid4()),
                    }
                )
        if host == "bulk":
            return _phonon(202, 202, message="Accepted")
        return _phonon(200, 200, call_details=details)

    def _check_envelope(self, host: HostKind, path: str, request: dict[str, Any]) -> _Reply | None:
        if request.get("api-version") not in {"1.0", "TEST"}:
            return _phonon(200, 203)
        flow = self._state.flows.get(str(request.get("flow-id")))
        wanted_path = DIALER_PATH if flow is not None and flow.type == "dialer" else MULTICAST_PATH
        if flow is None or path != wanted_path:
            return _phonon(200, 301)
        if request.get("security-id") != flow.security_id:
            return _phonon(401, 202) if host == "bulk" else _phonon(200, 202)
        return None


def _check_calls(calls: Any) -> _Reply | None:
    if not isinstance(calls, list):
        return _phonon(200, 210)
    if not calls:
        return _phonon(200, 302)
    if len(calls) > MAX_CALLS:
        return _phonon(200, 303)
    for call in calls:
        if not _call_complete(call):
            return _phonon(200, 210)
        numbers = call["contact-numbers"]
        if not all(isinstance(n, str) and n.isdigit() and 8 <= len(n) <= 15 for n in numbers):
            return _phonon(200, 205)
    return None


def _call_complete(call: Any) -> bool:
    if not isinstance(call, dict):
        return False
    ident, start, numbers = (
        call.get(k) for k in ("client-identifier", "start-time", "contact-numbers")
    )
    if not isinstance(ident, str) or not ident or not isinstance(numbers, list) or not numbers:
        return False
    try:
        when = datetime.fromisoformat(start) if isinstance(start, str) else None
    except ValueError:
        return False
    if when is None or when.utcoffset() is None:
        return False
    keys = call.get("keys", [])
    return isinstance(keys, list) and all(
        isinstance(k, dict) and isinstance(k.get("name"), str) and "value" in k for k in keys
    )


def _fault_reply(fault: Fault) -> _Reply:
    if fault.kind == "http503":
        return _Reply(503, b"Service Unavailable", "text/plain")
    if fault.kind == "http429":
        headers = (("Retry-After", fault.retry_after),) if fault.retry_after is not None else ()
        return _Reply(429, b"Too Many Requests", "text/plain", headers)
    if fault.kind.startswith("code") and fault.kind[4:].isdigit():
        code = int(fault.kind[4:])
        return _phonon(_http_status_for(code), code)
    raise ValueError(f"unknown fault kind {fault.kind!r}")


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins every handler thread: nothing leaks
    stub: PhononStub
    host_kind: HostKind


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        reply = self.server.stub.handle(
            self.server.host_kind, self.path, body, self.headers.get("Content-Type")
        )
        if reply is None:
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting: that is what a timeout fault is for

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the stub's records, not its access log."""


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle on, the body would wait for the
    # client's delayed ACK (40 ms) on every kept-alive request.
    disable_nagle_algorithm = True


@pytest.fixture(scope="session")
def _phonon_stub_server() -> Iterator[PhononStub]:
    stub = PhononStub()
    yield stub
    stub.close()


@pytest.fixture
def phonon_stub(_phonon_stub_server: PhononStub) -> Iterator[PhononStub]:
    """The Phonon stub, reset for this test: no flows, no faults, IP whitelisted."""
    _phonon_stub_server.reset()
    yield _phonon_stub_server
    _phonon_stub_server.reset()
