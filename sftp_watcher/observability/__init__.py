"""Operations: structured logs, Prometheus metrics, health endpoints and Sentry (SPEC 9).

The names below are loaded on first use: importing ``sftp_watcher.observability.metrics``
(every sweep module does) must not import sentry_sdk, which a `poll-once` without a DSN
never needs (0.6 s of a cold start).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sftp_watcher.observability.health import HealthServer
    from sftp_watcher.observability.logs import configure_logging, get_logger, register_secret
    from sftp_watcher.observability.sentry import (
        capture,
        close_sentry,
        init_sentry,
        sentry_scope,
    )

_HOMES = {
    "HealthServer": "health",
    "configure_logging": "logs",
    "get_logger": "logs",
    "register_secret": "logs",
    "capture": "sentry",
    "close_sentry": "sentry",
    "init_sentry": "sentry",
    "sentry_scope": "sentry",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
