"""What each pipeline step decided, as the dispatcher records it (SPEC 3, 9).

A step never writes the upload's record: it returns one of these, and ``Pipeline.run``
records it (with the decisions of the steps that ran since the last side effect, in one
transaction) before the next side effect. ``state`` is the state the decision leads to
(None: the upload stays where it is); ``values`` the columns it sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sftp_watcher.sources.base import Folder
from sftp_watcher.state.models import Destination, UploadState
from sftp_watcher.state.store import BatchMark, QueuedEmail


@dataclass(frozen=True, slots=True)
class Claimed:
    """The file was renamed to its claim name (or had been, before a crash)."""

    state: ClassVar[UploadState | None] = UploadState.CLAIMED

    def values(self) -> dict[str, Any]:
        return {}

    def detail(self) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True, slots=True)
class Vanished:
    """The file was gone before it could be claimed: nothing happened to it."""

    reason: str
    state: ClassVar[UploadState | None] = UploadState.ABANDONED

    def values(self) -> dict[str, Any]:
        return {"reason": self.reason}

    def detail(self) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True, slots=True)
class Judged:
    """The file read and validated: its batches (bodies, calls) and where it goes."""

    judged_at: datetime
    content_sha256: str | None
    flow_id: str | None
    start_time: datetime | None
    destination: Destination
    reason: str | None
    rows_total: int
    rows_valid: int
    rows_rejected: int
    report: dict[str, Any]
    errors_csv: bytes | None
    bodies: tuple[tuple[bytes, int], ...]
    outcome: str
    state: ClassVar[UploadState | None] = UploadState.JUDGED

    def values(self) -> dict[str, Any]:
        return {
            "judged_at": self.judged_at,
            "content_sha256": self.content_sha256,
            "flow_id": self.flow_id,
            "start_time": self.start_time,
            "destination": self.destination,
            "reason": self.reason,
            "rows_total": self.rows_total,
            "rows_valid": self.rows_valid,
            "rows_rejected": self.rows_rejected,
            "report": self.report,
            "errors_csv": self.errors_csv,
        }

    def detail(self) -> dict[str, Any] | None:
        return {"outcome": self.outcome, "batches": len(self.bodies)}


@dataclass(frozen=True, slots=True)
class Triggered:
    """Every batch answered; ``last``: the last answer, recorded with this decision."""

    rows_triggered: int
    destination: Destination
    reason: str | None
    report: dict[str, Any]
    sent: int
    failed: int
    last: BatchMark | None = None
    state: ClassVar[UploadState | None] = UploadState.TRIGGERED

    def values(self) -> dict[str, Any]:
        return {
            "rows_triggered": self.rows_triggered,
            "destination": self.destination,
            "reason": self.reason,
            "report": self.report,
        }

    def detail(self) -> dict[str, Any] | None:
        return {"sent": self.sent, "failed": self.failed}


@dataclass(frozen=True, slots=True)
class Failed:
    """Processing failed unexpectedly (SPEC 3): the upload goes to Failure/ as it is,
    its unsent batches closed (``marks``), with a reason that quotes its id."""

    reason: str
    report: dict[str, Any]
    rows_triggered: int
    marks: tuple[BatchMark, ...] = ()
    claim_name: str | None = None  # where the file is, when not under its claim name
    state: ClassVar[UploadState | None] = UploadState.TRIGGERED

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "destination": Destination.FAILURE,
            "reason": self.reason,
            "report": self.report,
            "rows_triggered": self.rows_triggered,
            "errors_csv": None,
            "archived_as": None,
            "errors_file": None,
        }
        if self.claim_name is not None:
            values["claim_name"] = self.claim_name
        return values

    def detail(self) -> dict[str, Any] | None:
        return {"crashed": True}


@dataclass(frozen=True, slots=True)
class Named:
    """Free names in the destination folder for the file and its errors file, recorded
    before the move so a resume moves it to the same place."""

    archived_as: str
    errors_file: str | None
    state: ClassVar[UploadState | None] = None

    def values(self) -> dict[str, Any]:
        return {"archived_as": self.archived_as, "errors_file": self.errors_file}

    def detail(self) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True, slots=True)
class Located:
    """Where a resumed upload's file is: ``claimed`` still under its claim name (to be
    moved), else moved before a crash (or removed by hand)."""

    claimed: bool
    state: ClassVar[UploadState | None] = None

    def values(self) -> dict[str, Any]:
        return {}

    def detail(self) -> dict[str, Any] | None:
        return None


@dataclass(frozen=True, slots=True)
class Archived:
    """The file is in its folder under ``archived_as`` (and its errors file beside it)."""

    folder: Folder
    archived_as: str
    errors_file: str | None
    state: ClassVar[UploadState | None] = UploadState.ARCHIVED

    def values(self) -> dict[str, Any]:
        return {"archived_as": self.archived_as, "errors_file": self.errors_file}

    def detail(self) -> dict[str, Any] | None:
        return {"folder": self.folder.value, "archived_as": self.archived_as}


@dataclass(frozen=True, slots=True)
class Notified:
    """The account holder's email, queued with the upload's last step (one per upload)."""

    email: QueuedEmail | None
    state: ClassVar[UploadState | None] = UploadState.DONE

    def values(self) -> dict[str, Any]:
        return {}

    def detail(self) -> dict[str, Any] | None:
        return None


Decision = Claimed | Vanished | Judged | Triggered | Failed | Named | Located | Archived | Notified
