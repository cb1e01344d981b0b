"""Structured logs: JSON lines on stderr, bound context, secrets scrubbed, console for people."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from sftp_watcher.observability import logs
from sftp_watcher.observability.logs import (
    configure_logging,
    forget_secrets,
    get_logger,
    register_secret,
    scrub_text,
)

SECURITY_ID = "f3a9c1d2e4b5a6978877665544332211ffeeddccbbaa99887766554433221100"
PASSWORD = "s3cr3t-Passw0rd!"


def json_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_line_has_event_level_utc_timestamp_and_fields() -> None:
    buffer = io.StringIO()
    configure_logging("json", stream=buffer)

    get_logger("test").info("file.claimed", customer="acme", file="C129113_o9vJavuB.csv")

    [line] = json_lines(buffer)
    assert line["event"] == "file.claimed"
    assert line["level"] == "info"
    assert line["customer"] == "acme"
    assert line["file"] == "C129113_o9vJavuB.csv"
    ts = datetime.fromisoformat(line["ts"])
    assert ts.utcoffset() is not None
    assert ts.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert abs((datetime.now(UTC) - ts).total_seconds()) < 3600


def test_logs_go_to_stderr_only_one_json_object_per_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging()  # default stream: stderr

    log = get_logger("test")
    log.info("poll.started", customer="acme")
    log.warning("poll.failed", customer="acme", error="connection refused\nsecond line")

    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["poll.started", "poll.failed"]


def test_bound_context_appears_on_every_line_until_unbound() -> None:
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    log = get_logger("test")

    with structlog.contextvars.bound_contextvars(customer="acme", upload_id=42):
        log.info("file.read", duration_ms=12)
    log.info("service.stopped")

    first, second = json_lines(buffer)
    assert first["customer"] == "acme"
    assert first["upload_id"] == 42
    assert first["duration_ms"] == 12
    assert "customer" not in second


def test_library_logs_come_out_as_json_and_their_info_chatter_is_quiet() -> None:
    buffer = io.StringIO()
    configure_logging(stream=buffer)

    logging.getLogger("httpx").info("HTTP Request: POST https://central.phonon.io")
    logging.getLogger("httpx").warning("connection pool is full")
    logging.getLogger("apscheduler.executors.default").error("Job raised an exception")

    lines = json_lines(buffer)
    assert [(line["logger"], line["event"], line["level"]) for line in lines] == [
        ("httpx", "connection pool is full", "warning"),
        ("apscheduler.executors.default", "Job raised an exception", "error"),
    ]
    assert all("ts" in line for line in lines)


def test_library_complaints_we_report_ourselves_are_silenced() -> None:
    """paramiko's "Socket exception" and APScheduler's "skipped" come as our own events."""
    buffer = io.StringIO()
    configure_logging(stream=buffer)

    logging.getLogger("paramiko.transport").error("Socket exception: Connection reset")
    logging.getLogger("apscheduler.scheduler").warning("maximum number of running instances")

    assert json_lines(buffer) == []


def test_level_filters_debug_by_default() -> None:
    buffer = io.StringIO()
    configure_logging(stream=buffer, level="INFO")

    get_logger("test").debug("noise")
    get_logger("test").info("signal")

    assert [line["event"] for line in json_lines(buffer)] == ["signal"]


def test_secret_key_names_are_masked_at_any_depth() -> None:
    buffer = io.StringIO()
    configure_logging(stream=buffer)

    get_logger("test").info(
        "flow.checked",
        password="hunter2",
        request={"security-id": "abc", "flow-id": "o9vJavuB"},
        smtp_password="pw",
        sentry_dsn="https://key@sentry.example/1",
        Authorization="Bearer x",
        token=SecretStr("zzz"),
    )

    [line] = json_lines(buffer)
    assert line["password"] == "***"
    assert line["request"] == {"security-id": "***", "flow-id": "o9vJavuB"}
    assert line["smtp_password"] == "***"
    assert line["sentry_dsn"] == "***"
    assert line["Authorization"] == "***"
    assert line["token"] == "***"


def test_registered_secrets_are_cut_out_of_any_string_value() -> None:
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    register_secret(SECURITY_ID)
    register_secret(SecretStr(PASSWORD))

    get_logger("test").error(
        f"request body had {SECURITY_ID}",
        error=f"login as phonon/{PASSWORD} refused",
        body=[{"security-ids": [SECURITY_ID]}, f"x{SECURITY_ID}y"],
        obj=RuntimeError(f"bad {PASSWORD}"),
    )

    text = buffer.getvalue()
    assert SECURITY_ID not in text
    assert PASSWORD not in text
    [line] = json_lines(buffer)
    assert line["event"] == "request body had ***"
    assert line["error"] == "login as phonon/*** refused"
    assert line["body"][1] == "x***y"
    assert line["obj"] == "RuntimeError: bad ***"


def test_secret_inside_exception_text_and_traceback_is_scrubbed() -> None:
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    register_secret(SECURITY_ID)

    try:
        raise ValueError(f"Phonon said: invalid security-id {SECURITY_ID}")
    except ValueError:
        get_logger("test").exception("phonon.batch_rejected", flow_id="o9vJavuB")

    assert SECURITY_ID not in buffer.getvalue()
    [line] = json_lines(buffer)
    assert "ValueError: Phonon said: invalid security-id ***" in line["exception"]
    assert "Traceback" in line["exception"]


def test_secret_in_a_library_exception_log_is_scrubbed() -> None:
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    register_secret(PASSWORD)

    try:
        raise OSError(f"auth failed for {PASSWORD}")
    except OSError:
        logging.getLogger("apscheduler.executors.default").exception(
            "Exception (client): %s", PASSWORD
        )

    assert PASSWORD not in buffer.getvalue()
    [line] = json_lines(buffer)
    assert line["event"] == "Exception (client): ***"
    assert "auth failed for ***" in line["exception"]


def test_console_format_is_readable_text_and_scrubbed() -> None:
    buffer = io.StringIO()
    configure_logging("console", stream=buffer)
    register_secret(PASSWORD)

    log = get_logger("test")
    log.info("poll.finished", customer="acme", files_seen=3)
    try:
        raise RuntimeError(f"boom {PASSWORD}")
    except RuntimeError:
        log.exception("poll.failed", password="x")

    text = buffer.getvalue()
    first = text.splitlines()[0]
    assert "poll.finished" in first
    assert "customer=acme" in first
    assert "files_seen=3" in first
    assert "\x1b[" not in text  # not a terminal: no colour codes
    assert "RuntimeError" in text
    assert PASSWORD not in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(first)


def test_configuring_twice_replaces_the_handler_instead_of_stacking() -> None:
    old, new = io.StringIO(), io.StringIO()
    configure_logging(stream=old)
    configure_logging(stream=new)

    get_logger("test").info("service.started")

    assert old.getvalue() == ""
    assert [line["event"] for line in json_lines(new)] == ["service.started"]


def test_unknown_format_or_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml", stream=io.StringIO())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="log level"):
        configure_logging(level="LOUD", stream=io.StringIO())


def test_blank_secret_is_not_registered() -> None:
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    register_secret("")
    register_secret("   ")
    register_secret(None)

    get_logger("test").info("a b c")

    assert json_lines(buffer)[0]["event"] == "a b c"


def _naive_scrub(secrets: list[str], text: str) -> str:
    """The reference: one alternation, longest secret first."""
    import re

    ordered = sorted(set(secrets), key=len, reverse=True)
    return re.sub("|".join(re.escape(s) for s in ordered), "***", text)


@given(
    secrets=st.lists(st.text(alphabet="ab.*(|\\", min_size=1, max_size=6), min_size=1, max_size=12),
    text=st.text(alphabet="ab.*(|\\x ", max_size=60),
)
def test_the_trie_masks_what_the_longest_first_alternation_masks(
    secrets: list[str], text: str
) -> None:
    kept = [s for s in secrets if s.strip()]
    forget_secrets()
    try:
        for secret in kept:
            register_secret(secret)
        expected = _naive_scrub(kept, text) if kept else text
        assert scrub_text(text) == expected
    finally:
        forget_secrets()


def test_registering_many_secrets_compiles_one_pattern(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registration is linear: the pattern is built once, when it is next needed."""
    compiled: list[str] = []
    real_compile = logs.re.compile

    def counting(pattern: str, *args: Any) -> Any:
        compiled.append(pattern)
        return real_compile(pattern, *args)

    forget_secrets()
    values = [f"{i:04d}-" + "k" * 60 for i in range(2_000)]
    monkeypatch.setattr(logs.re, "compile", counting)
    try:
        for value in values:
            register_secret(value)
        assert scrub_text(f"a {values[1234]} b {values[7]}") == "a *** b ***"
        assert scrub_text("nothing secret") == "nothing secret"
    finally:
        monkeypatch.undo()
        forget_secrets()
    assert len(compiled) == 1
