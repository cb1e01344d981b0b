"""Sentry: events reach a local envelope endpoint, tagged, and with every secret scrubbed."""

from __future__ import annotations

import gzip
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sentry_sdk
import structlog
from pydantic import SecretStr

from sftp_watcher.errors import ConfigError, RemoteOperationFailed
from sftp_watcher.observability.logs import configure_logging, get_logger, register_secret
from sftp_watcher.observability.sentry import capture, close_sentry, init_sentry, sentry_scope

SECURITY_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
PASSWORD = "Ssh-Passw0rd-42"


@dataclass
class EnvelopeSink:
    """A tiny Sentry ingest: records the body of every POST to /api/1/envelope/."""

    port: int = 0
    bodies: list[bytes] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        return [
            payload
            for body in self.bodies
            for item_type, payload in parse_envelope(body)
            if item_type == "event"
        ]


def parse_envelope(body: bytes) -> list[tuple[str, Any]]:
    """Items of a Sentry envelope: a header line, then item header + payload pairs."""
    items = []
    _, _, rest = body.partition(b"\n")
    while rest.strip():
        header_line, _, rest = rest.partition(b"\n")
        header = json.loads(header_line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        items.append((header.get("type", ""), json.loads(payload) if payload else None))
    return items


@pytest.fixture
def sink() -> Iterator[EnvelopeSink]:
    recorded = EnvelopeSink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            recorded.paths.append(self.path)
            recorded.bodies.append(body)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    recorded.port = server.server_address[1]
    try:
        yield recorded
    finally:
        close_sentry()
        server.shutdown()
        server.server_close()
        thread.join()


def start(sink: EnvelopeSink) -> None:
    dsn = SecretStr(f"http://public@127.0.0.1:{sink.port}/1")
    assert init_sentry(dsn, environment="test", release="sftp-watcher@0.1.0") is True


def test_captured_error_arrives_tagged_and_without_secrets(sink: EnvelopeSink) -> None:
    register_secret(SECURITY_ID)
    register_secret(PASSWORD)
    start(sink)

    with sentry_scope(customer="acme", flow_id="o9vJavuB", upload_id=42):
        try:
            raise RemoteOperationFailed(f"login phonon:{PASSWORD} for flow {SECURITY_ID} failed")
        except RemoteOperationFailed as exc:
            event_id = capture(exc)
    sentry_sdk.flush(timeout=10)

    assert event_id is not None
    assert set(sink.paths) == {"/api/1/envelope/"}
    [event] = sink.events()
    assert event["event_id"] == event_id
    assert event["tags"] == {"customer": "acme", "flow_id": "o9vJavuB", "upload_id": "42"}
    assert event["environment"] == "test"
    assert event["release"] == "sftp-watcher@0.1.0"
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RemoteOperationFailed"
    assert exception["value"] == "login phonon:*** for flow *** failed"
    payload = b"".join(sink.bodies)
    assert SECURITY_ID.encode() not in payload
    assert PASSWORD.encode() not in payload


def test_tags_end_with_the_scope(sink: EnvelopeSink) -> None:
    start(sink)

    with sentry_scope(customer="acme", flow_id="o9vJavuB"):
        pass
    capture(RuntimeError("outside any scope"))
    sentry_sdk.flush(timeout=10)

    [event] = sink.events()
    assert not {"customer", "flow_id"} & set(event.get("tags", {}))


def test_error_log_becomes_an_event_named_by_its_log_event(sink: EnvelopeSink) -> None:
    configure_logging(stream=io.StringIO())
    register_secret(SECURITY_ID)
    start(sink)

    log = get_logger("sftp_watcher.phonon")
    with structlog.contextvars.bound_contextvars(customer="acme", flow_id="o9vJavuB"):
        log.info("phonon.batch_sent", batch=1)  # breadcrumb, not an event
        log.error(
            "phonon.batch_rejected",
            code=202,
            security_id=SECURITY_ID,
            error=f"Invalid Security ID {SECURITY_ID}",
        )
    sentry_sdk.flush(timeout=10)

    [event] = sink.events()
    assert event["logentry"]["message"] == "phonon.batch_rejected"
    assert event["level"] == "error"
    assert event["tags"]["customer"] == "acme"
    assert event["tags"]["flow_id"] == "o9vJavuB"
    assert event["extra"]["security_id"] == "***"
    assert event["extra"]["error"] == "Invalid Security ID ***"
    crumbs = [c.get("message") for c in event["breadcrumbs"]["values"]]
    assert "phonon.batch_sent" in crumbs
    assert SECURITY_ID.encode() not in b"".join(sink.bodies)


def test_no_dsn_means_sentry_stays_off() -> None:
    assert init_sentry(None, release="x") is False
    assert init_sentry(SecretStr("  "), release="x") is False
    assert not sentry_sdk.get_client().is_active()
    assert capture(RuntimeError("nobody listens")) is None


def test_bad_dsn_is_a_config_error_that_does_not_quote_it() -> None:
    with pytest.raises(ConfigError) as caught:
        init_sentry(SecretStr("not-a-dsn-secretvalue"), release="x")

    assert "sentry_dsn" in str(caught.value)
    assert "secretvalue" not in str(caught.value)
