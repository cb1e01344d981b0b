"""Metrics: each helper moves its series in the module's own registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sftp_watcher.observability import metrics


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_counters_count_per_label() -> None:
    before = value("sftp_watcher_files_total", customer="m-acme", outcome="accepted")

    metrics.record_file("m-acme", "accepted")
    metrics.record_file("m-acme", "accepted")
    metrics.record_file("m-acme", "rejected")
    metrics.record_rows("m-acme", "valid", 982)
    metrics.record_phonon_batch("o9vJavuB", 200)
    metrics.record_phonon_error("o9vJavuB", "timeout")
    metrics.record_sftp_error("m-acme", "SourceUnavailable")
    metrics.record_email("sent")

    assert value("sftp_watcher_files_total", customer="m-acme", outcome="accepted") == before + 2
    assert value("sftp_watcher_rows_total", customer="m-acme", result="valid") >= 982
    assert value("sftp_watcher_phonon_batches_total", flow_id="o9vJavuB", code="200") >= 1
    assert value("sftp_watcher_phonon_errors_total", flow_id="o9vJavuB", code="timeout") >= 1
    assert value("sftp_watcher_sftp_errors_total", customer="m-acme", kind="SourceUnavailable") >= 1
    assert value("sftp_watcher_emails_total", result="sent") >= 1


def test_gauges_and_histogram() -> None:
    at = datetime(2026, 2, 8, 21, 12, tzinfo=timezone(timedelta(hours=5, minutes=30)))

    metrics.set_oldest_waiting_file_age("m-gauge", 75.5)
    metrics.mark_successful_poll("m-gauge", at)
    metrics.observe_poll("m-gauge", 0.3)
    metrics.set_email_queue_depth(4)

    assert value("sftp_watcher_oldest_waiting_file_age_seconds", customer="m-gauge") == 75.5
    assert value("sftp_watcher_last_successful_poll_timestamp", customer="m-gauge") == (
        at.astimezone(UTC).timestamp()
    )
    assert value("sftp_watcher_poll_duration_seconds_count", customer="m-gauge") == 1
    assert value("sftp_watcher_poll_duration_seconds_bucket", customer="m-gauge", le="0.5") == 1
    assert value("sftp_watcher_email_queue_depth") == 4

    metrics.set_oldest_waiting_file_age("m-gauge", -3)  # clock skew on the server
    assert value("sftp_watcher_oldest_waiting_file_age_seconds", customer="m-gauge") == 0


def test_naive_poll_time_and_negative_row_count_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        metrics.mark_successful_poll("m-acme", datetime(2026, 2, 8, 21, 12))  # naive on purpose
    with pytest.raises(ValueError, match="negative"):
        metrics.record_rows("m-acme", "valid", -1)


def test_exposition_holds_only_sftp_watcher_series() -> None:
    metrics.record_email("queued")

    text = metrics.exposition().decode()

    names = {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert names
    assert all(name.startswith("sftp_watcher_") for name in names), names
    assert "python_gc_objects_collected_total" not in text
