"""Optional retention (SPEC 3): archived files older than ``retention_days`` are deleted."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from sftp_watcher.errors import SourceError
from sftp_watcher.sources.base import Folder

if TYPE_CHECKING:
    from sftp_watcher.service import Service

log = structlog.get_logger("sftp_watcher.retention")


def sweep_retention(service: Service) -> int:
    """Delete expired archived files of every account that sets ``retention_days``."""
    deleted = 0
    for account in service.accounts.values():
        days = account.customer.retention_days
        if days is None or service.stop.is_set():
            continue
        cutoff = (service.clock() - timedelta(days=days)).timestamp()
        with service.locks.hold(account.customer.id) as held:
            if not held:
                continue
            try:
                account.source.open()
                for folder in (Folder.SUCCESS, Folder.FAILURE):
                    for entry in account.source.list(folder):
                        if entry.kind == "file" and entry.mtime < cutoff:
                            account.source.remove(folder, entry.name)
                            deleted += 1
                            log.info(
                                "retention.deleted",
                                customer=account.customer.id,
                                folder=folder.value,
                                file=entry.name,
                            )
            except SourceError as exc:
                log.warning("retention.failed", customer=account.customer.id, error=str(exc))
    return deleted
