"""Dry run (``phonon.dry_run``): each request is appended to a JSON-lines log instead of sent.

The log shows exactly what would have gone out, except the flow's security id, which
is masked; ``body_sha256`` is the digest of the real bytes, so a line can still be
matched with a request later sent for real.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import structlog

from sftp_watcher.config import FlowConfig, PhononConfig
from sftp_watcher.errors import PhononTemporaryError
from sftp_watcher.phonon.client import BatchResult, PhononClient, Trigger
from sftp_watcher.phonon.codes import FlowCheck
from sftp_watcher.phonon.requests import Batch, endpoint_url

_log = structlog.get_logger(__name__)

MASK = "***"


class DryRunClient:
    """Records requests in ``config.dry_run_log``; thread-safe, each line flushed and fsynced."""

    def __init__(
        self, config: PhononConfig, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._config = config
        self._now = now
        self._lock = threading.Lock()

    def close(self) -> None:
        """Nothing is held open between requests. Idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send(
        self, flow: FlowConfig, batch: Batch, *, deadline: float, resumed: bool = False
    ) -> BatchResult:
        """Append the request to the log and answer as Phonon would on success (code 200)."""
        digest = hashlib.sha256(batch.body).hexdigest()
        body: dict[str, Any] = json.loads(batch.body)
        body["security-id"] = MASK
        calls = len(body.get("calls") or ())  # from the body: callers may omit client_ids
        self._append(
            {
                "ts": self._now().isoformat(),
                "url": endpoint_url(flow, self._config),
                "flow_id": flow.id,
                "batch": batch.index,
                "calls": calls,
                "resumed": resumed,
                "body_sha256": digest,
                "body": body,
            },
        )
        _log.info("phonon.dry_run_recorded", flow_id=flow.id, batch=batch.index, calls=calls)
        return BatchResult(
            code=200,
            message="dry run: not sent",
            request_id=f"dry-run-{digest[:12]}",
            http_status=200,
            repeated=False,
            attempts=1,
            call_details=(),
        )

    def check_flow(self, flow: FlowConfig) -> FlowCheck:
        """Phonon is not contacted in a dry run, so the flow cannot be checked."""
        return FlowCheck(
            ok=True,
            code=None,
            http_status=None,
            message="dry run: flow not checked against Phonon",
            fix="Set phonon.dry_run to false to check the flow against Phonon.",
            skipped=True,
        )

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        path = self._config.dry_run_log
        with self._lock:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as fh:
                    fh.write(line)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                # Temporary: the file stays in hand and is retried, not failed for the customer.
                raise PhononTemporaryError(
                    f"cannot write dry-run log {path}: {exc.strerror}"
                ) from exc


def make_client(config: PhononConfig) -> Trigger:
    """The dry-run recorder when ``config.dry_run``, else the real HTTP client."""
    if config.dry_run:
        return DryRunClient(config)
    return PhononClient(config)
