"""Error reporting to Sentry (SPEC 9): errors tagged with customer and flow, secrets scrubbed.

Sentry is optional: without a DSN nothing is initialised and every helper here is a no-op.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import SecretStr

from sftp_watcher.errors import ConfigError
from sftp_watcher.observability.logs import scrub

if TYPE_CHECKING:
    from sentry_sdk.types import Event, Hint

# sentry_sdk is imported by init_sentry only (0.6 s of a cold start): until then Sentry
# cannot be on, and the helpers below return without importing it.
_SDK = "sentry_sdk"

# The bound log context that becomes Sentry tags when no explicit scope set them.
TAG_KEYS = ("customer", "flow_id", "upload_id")


def init_sentry(
    dsn: SecretStr | None,
    *,
    environment: str | None = None,
    release: str,
) -> bool:
    """Start reporting to Sentry; False (and nothing started) when no DSN is configured."""
    if dsn is None or not dsn.get_secret_value().strip():
        return False
    import sentry_sdk
    from sentry_sdk.integrations.atexit import AtexitIntegration
    from sentry_sdk.integrations.dedupe import DedupeIntegration
    from sentry_sdk.integrations.excepthook import ExcepthookIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration

    try:
        sentry_sdk.init(
            dsn=dsn.get_secret_value().strip(),
            environment=environment,
            release=release,
            # No send_default_pii (deprecated in recent 2.x): left unset, no PII is collected.
            include_local_variables=False,  # locals hold security ids and passwords
            max_request_body_size="never",
            traces_sample_rate=None,
            profiles_sample_rate=None,
            default_integrations=False,
            auto_enabling_integrations=False,
            integrations=[
                LoggingIntegration(
                    level=logging.INFO, event_level=logging.ERROR, sentry_logs_level=None
                ),
                DedupeIntegration(),
                ExcepthookIntegration(),
                AtexitIntegration(callback=_quiet_atexit),
            ],
            before_send=_before_send,
            before_breadcrumb=_before_breadcrumb,
        )
    except sentry_sdk.utils.BadDsn as exc:
        # BadDsn's text quotes the DSN, which is itself a secret.
        raise ConfigError(["sentry_dsn: not a valid Sentry DSN"]) from exc
    return True


def close_sentry(timeout: float = 2.0) -> None:
    """Send what is pending and detach the client. Idempotent; safe when never initialised."""
    if _SDK not in sys.modules:
        return
    import sentry_sdk

    client = sentry_sdk.get_client()
    if client.is_active():
        client.close(timeout=timeout)
    sentry_sdk.get_global_scope().set_client(None)


@contextmanager
def sentry_scope(
    *,
    customer: str | None = None,
    flow_id: str | None = None,
    upload_id: str | int | None = None,
) -> Iterator[None]:
    """Tag every event captured inside the block; nested blocks add to the outer tags."""
    if _SDK not in sys.modules:
        yield
        return
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        for key, value in (("customer", customer), ("flow_id", flow_id), ("upload_id", upload_id)):
            if value is not None:
                scope.set_tag(key, str(value))
        yield


def capture(exc: BaseException) -> str | None:
    """Report ``exc``; the Sentry event id, or None when Sentry is off or the event was dropped."""
    if _SDK not in sys.modules:
        return None
    import sentry_sdk

    return sentry_sdk.capture_exception(exc)


def _before_send(event: Event, hint: Hint) -> Event | None:
    record = hint.get("log_record")
    if isinstance(record, logging.LogRecord) and isinstance(record.msg, dict):
        # A structlog event: its "event" name is the message, its fields the extra data.
        fields = {k: v for k, v in record.msg.items() if not k.startswith("_")}
        event["logentry"] = {"message": str(fields.pop("event", "")), "params": []}
        event["extra"] = fields
        _tag_from_context(event, fields)
    _tag_from_context(event, structlog.contextvars.get_contextvars())
    cleaned: Event = scrub(event)
    return cleaned


def _before_breadcrumb(crumb: dict[str, Any], hint: Hint) -> dict[str, Any] | None:
    record = hint.get("log_record")
    if isinstance(record, logging.LogRecord) and isinstance(record.msg, dict):
        fields = {k: v for k, v in record.msg.items() if not k.startswith("_")}
        crumb["message"] = str(fields.pop("event", ""))
        crumb["data"] = fields
    cleaned: dict[str, Any] = scrub(crumb)
    return cleaned


def _tag_from_context(event: Event, context: dict[str, Any]) -> None:
    tags = event.setdefault("tags", {})
    if not isinstance(tags, dict):
        return
    for key in TAG_KEYS:
        if key not in tags and context.get(key) is not None:
            tags[key] = str(context[key])


def _quiet_atexit(pending: int, timeout: float) -> None:
    # The default callback prints free text to stderr, which carries only JSON log lines.
    structlog.stdlib.get_logger(__name__).info(
        "sentry.flushing", pending=pending, timeout_s=timeout
    )
