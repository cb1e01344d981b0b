"""What one pass of `poll-once` did, over one process or several (``processes``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sftp_watcher.errors import StateError

if TYPE_CHECKING:  # light to import: a sweep process reads it before it is set up
    from sftp_watcher.poller import SweepResult
    from sftp_watcher.state.store import Store


@dataclass(frozen=True, slots=True)
class PassResult:
    sweeps: tuple[SweepResult, ...]
    emails_sent: int  # by the sweeps and the outbox, during the pass
    emails_pending: int | None  # None: the state database could not be asked

    @property
    def unreachable(self) -> tuple[SweepResult, ...]:
        return tuple(s for s in self.sweeps if s.error is not None)


def pending_emails(store: Store) -> int | None:
    """The emails still to send after a pass, or None when the database is out of reach
    (the sweeps and the outbox said so)."""
    try:
        return store.pending_email_count()
    except StateError:
        return None
