"""Optional retention (SPEC 3): archived files older than ``retention_days`` are deleted.

A file's age is the time the state database recorded its archive step, never its mtime:
SFTP clients (WinSCP among them) keep a file's original mtime, and a rename keeps it, so
a list written a year ago and archived a minute ago has an old mtime. A file the database
has no record of (archived before the database existed, or put there by hand) is deleted
only when both its mtime and the time retention first saw it are older than the limit;
the first sightings are kept in the database, so a restart does not reset them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy import select

from sftp_watcher.config import CustomerConfig
from sftp_watcher.errors import RemoteFileNotFound, SourceError, StateError
from sftp_watcher.sources.base import Folder, Source
from sftp_watcher.state.locks import AccountLocks
from sftp_watcher.state.models import Step, Upload, UploadState
from sftp_watcher.state.store import Store

log = structlog.get_logger("sftp_watcher.retention")

FOLDERS = (Folder.SUCCESS, Folder.FAILURE)
# The first sightings of unrecorded files are kept as a profile row under this key (a
# customer id cannot hold ":", so it never meets a customer's own server profile).
_SEEN_KEY = "retention:{}"


class ArchiveOwner(Protocol):
    """What retention needs of an account (``poller.Account`` provides it)."""

    customer: CustomerConfig
    source: Source
    store: Store
    locks: AccountLocks
    stop: threading.Event

    def clock(self) -> datetime: ...


def expire_archives(account: ArchiveOwner) -> int:
    """Delete the account's archived files older than its ``retention_days``; the count.

    Under the account's lock (skipped when another thread or process holds it: the next
    run comes); a session retention opens is closed when it ends.
    """
    days = account.customer.retention_days
    if days is None or account.stop.is_set():
        return 0
    customer_id = account.customer.id
    with account.locks.hold(customer_id) as held:
        if not held:
            return 0
        try:
            with ExitStack() as stack:
                if not getattr(account.source, "connected", False):
                    stack.enter_context(account.source)  # opened here: closed here
                return _expire(account, timedelta(days=days))
        except (SourceError, StateError) as exc:
            log.warning("retention.failed", customer=customer_id, error=str(exc))
            return 0


def sweep_retention(
    accounts: Iterable[ArchiveOwner], owns: Callable[[str], bool] = lambda _id: True
) -> int:
    """Retention of every account this replica owns (``owns``, the replica membership)."""
    return sum(expire_archives(a) for a in accounts if owns(a.customer.id))


def _expire(account: ArchiveOwner, limit: timedelta) -> int:
    now = account.clock()
    cutoff = now - limit
    customer_id = account.customer.id
    archived = archive_times(account.store, customer_id)
    seen_key = _SEEN_KEY.format(customer_id)
    seen = dict((account.store.profile(seen_key) or {}).get("first_seen", {}))
    still_seen: dict[str, str] = {}
    deleted = 0
    for folder in FOLDERS:
        for entry in account.source.list(folder):
            if entry.kind != "file" or account.stop.is_set():
                continue
            key = f"{folder.value}/{entry.name}"
            at = archived.get(key)
            if at is None:
                first = datetime.fromisoformat(seen.get(key, now.isoformat()))
                still_seen[key] = first.isoformat()
                if entry.mtime >= cutoff.timestamp() or first >= cutoff:
                    continue
            elif at >= cutoff:
                continue
            try:
                account.source.remove(folder, entry.name)
            except RemoteFileNotFound:
                continue  # gone meanwhile
            still_seen.pop(key, None)
            deleted += 1
            log.info(
                "retention.deleted",
                customer=customer_id,
                folder=folder.value,
                file=entry.name,
                recorded=at is not None,
            )
    if still_seen != seen:
        account.store.save_profile(seen_key, {"first_seen": still_seen}, now=now)
    return deleted


def archive_times(store: Store, customer_id: str) -> dict[str, datetime]:
    """``"<folder>/<name>"`` -> when its upload was archived, for each file (the archived
    list and its errors file) of the customer's archived uploads."""
    query = (
        select(Upload.destination, Upload.archived_as, Upload.errors_file, Step.at)
        .join(Step, Step.upload_id == Upload.id)
        .where(Upload.customer_id == customer_id, Step.state == UploadState.ARCHIVED.value)
    )
    times: dict[str, datetime] = {}
    with store.session() as session:
        for destination, archived_as, errors_file, at in session.execute(query):
            for name in (archived_as, errors_file):
                if destination and name:
                    times[f"{destination}/{name}"] = at
    return times
