"""Operations: structured logs, Prometheus metrics, health endpoints and Sentry (SPEC 9)."""

from sftp_watcher.observability.health import HealthServer
from sftp_watcher.observability.logs import configure_logging, get_logger, register_secret
from sftp_watcher.observability.sentry import capture, close_sentry, init_sentry, sentry_scope

__all__ = [
    "HealthServer",
    "capture",
    "close_sentry",
    "configure_logging",
    "get_logger",
    "init_sentry",
    "register_secret",
    "sentry_scope",
]
