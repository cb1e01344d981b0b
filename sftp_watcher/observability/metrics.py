"""Prometheus metrics (SPEC 9), kept in this module's own registry and served by HealthServer.

A private registry rather than prometheus-client's global one: the exposition holds only
sftp-watcher's series, and tests can scrape it without other libraries' collectors.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)

FILES = Counter(
    "sftp_watcher_files_total",
    "Call-list files processed, by outcome (accepted, partial, rejected, duplicate, failed, "
    "crashed: could not be processed).",
    ["customer", "outcome"],
    registry=REGISTRY,
)
ROWS = Counter(
    "sftp_watcher_rows_total",
    "Call-list rows judged, by result (valid, rejected, sent).",
    ["customer", "result"],
    registry=REGISTRY,
)
PHONON_BATCHES = Counter(
    "sftp_watcher_phonon_batches_total",
    "Batches answered by the Phonon API, by api-response-code.",
    ["flow_id", "code"],
    registry=REGISTRY,
)
PHONON_ERRORS = Counter(
    "sftp_watcher_phonon_errors_total",
    "Failed Phonon API attempts (timeouts, HTTP errors, error codes), by code.",
    ["flow_id", "code"],
    registry=REGISTRY,
)
PHONON_REQUEST_DURATION = Histogram(
    "sftp_watcher_phonon_request_duration_seconds",
    "Wall time of one POST to the Phonon API (answered or not), by host (realtime, bulk).",
    ["host"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
POLL_DURATION = Histogram(
    "sftp_watcher_poll_duration_seconds",
    "Time to list and process one account's Upload/ folder.",
    ["customer"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
OLDEST_WAITING_FILE_AGE = Gauge(
    "sftp_watcher_oldest_waiting_file_age_seconds",
    "Age of the oldest ready file still waiting in Upload/ (0 when none).",
    ["customer"],
    registry=REGISTRY,
    # Across sweep processes (sftp_watcher.processes): one process sweeps each account.
    multiprocess_mode="livemax",
)
LAST_SUCCESSFUL_POLL = Gauge(
    "sftp_watcher_last_successful_poll_timestamp",
    "Unix time of the last poll of the account that completed without a source error.",
    ["customer"],
    registry=REGISTRY,
    multiprocess_mode="max",
)
SFTP_ERRORS = Counter(
    "sftp_watcher_sftp_errors_total",
    "SFTP or local-folder failures, by kind (the error class, e.g. SourceUnavailable).",
    ["customer", "kind"],
    registry=REGISTRY,
)
EMAILS = Counter(
    "sftp_watcher_emails_total",
    "Account-holder emails, by result (sent, failed, queued).",
    ["result"],
    registry=REGISTRY,
)
EMAIL_QUEUE_DEPTH = Gauge(
    "sftp_watcher_email_queue_depth",
    "Emails waiting to be (re)sent.",
    registry=REGISTRY,
    multiprocess_mode="livemostrecent",  # every process counts the whole outbox
)
HEALTH_REFUSED = Counter(
    "sftp_watcher_health_connections_refused_total",
    "Connections to the metrics/health port closed unanswered: every handler was busy.",
    registry=REGISTRY,
)

# The email channel (SPEC 11).
EMAIL_MESSAGES = Counter(
    "sftp_watcher_email_messages_total",
    "Messages of the upload mailbox processed, by the folder they went to.",
    ["folder"],
    registry=REGISTRY,
)
EMAIL_REJECTED = Counter(
    "sftp_watcher_email_upload_rejected_total",
    "Messages moved to Rejected unanswered, by reason (unknown_flow, unknown_sender, forged).",
    ["reason"],
    registry=REGISTRY,
)
EMAIL_OLDEST_AGE = Gauge(
    "sftp_watcher_email_oldest_pending_age_seconds",
    "Age of the oldest email waiting in the outbox (0 when none).",
    registry=REGISTRY,
    multiprocess_mode="livemax",
)

UPLOADS_HUNG = Counter(
    "sftp_watcher_uploads_hung_total",
    "Uploads in hand past upload_deadline_seconds (the process ends itself to be restarted).",
    ["customer"],
    registry=REGISTRY,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def record_file(customer: str, outcome: str) -> None:
    FILES.labels(customer=customer, outcome=outcome).inc()


def record_rows(customer: str, result: str, count: int) -> None:
    if count < 0:
        raise ValueError(f"row count cannot be negative: {count}")
    ROWS.labels(customer=customer, result=result).inc(count)


def record_phonon_batch(flow_id: str, code: int | str) -> None:
    PHONON_BATCHES.labels(flow_id=flow_id, code=str(code)).inc()


def record_phonon_error(flow_id: str, code: int | str) -> None:
    """``code`` is Phonon's response code, an HTTP status, or a word such as "timeout"."""
    PHONON_ERRORS.labels(flow_id=flow_id, code=str(code)).inc()


def observe_phonon_request(host: str, seconds: float) -> None:
    PHONON_REQUEST_DURATION.labels(host=host).observe(seconds)


def observe_poll(customer: str, seconds: float) -> None:
    POLL_DURATION.labels(customer=customer).observe(seconds)


def set_oldest_waiting_file_age(customer: str, seconds: float) -> None:
    OLDEST_WAITING_FILE_AGE.labels(customer=customer).set(max(seconds, 0.0))


def mark_successful_poll(customer: str, at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("poll time must be timezone-aware")
    LAST_SUCCESSFUL_POLL.labels(customer=customer).set(at.timestamp())


def record_sftp_error(customer: str, kind: str) -> None:
    SFTP_ERRORS.labels(customer=customer, kind=kind).inc()


def record_email(result: str) -> None:
    EMAILS.labels(result=result).inc()


def set_email_queue_depth(depth: int) -> None:
    EMAIL_QUEUE_DEPTH.set(depth)


def record_health_refused() -> None:
    HEALTH_REFUSED.inc()


def set_email_oldest_pending_age(seconds: float) -> None:
    EMAIL_OLDEST_AGE.set(max(seconds, 0.0))


def record_hung(customer: str) -> None:
    UPLOADS_HUNG.labels(customer=customer).inc()


def exposition() -> bytes:
    """The registry in Prometheus text format (serve with ``CONTENT_TYPE``)."""
    return generate_latest(REGISTRY)
