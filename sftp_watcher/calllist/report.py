"""The judgement of one call-list file: the value the pipeline, the CLI and the email use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    ACCEPTED = "accepted"  # every row valid
    PARTIAL = "partial"  # some rows rejected, the valid ones go ahead (policy: partial)
    REJECTED = "rejected"  # nothing goes ahead


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One valid row, already in the shape Phonon needs (SPEC 6)."""

    line: int  # as a spreadsheet shows it: header is line 1
    member: str | None  # zip member the row came from, None for a plain .csv
    numbers: tuple[str, ...]  # tel1, tel2, ... as country code + digits, no '+'
    start_time: datetime  # timezone-aware, in the customer's time zone
    variables: tuple[tuple[str, str], ...]  # (("$flow.key.Name", "Asha"), ...)


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str
    value: str
    reason: str
    member: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "line": self.line,
            "column": self.column,
            "value": self.value,
            "reason": self.reason,
        }
        if self.member is not None:
            data["member"] = self.member
        return data


@dataclass(frozen=True, slots=True)
class Report:
    file: str
    outcome: Outcome
    rows_total: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    file_errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    row_errors: tuple[RowError, ...] = ()
    # The valid rows to trigger, in file order; empty whenever the outcome is REJECTED.
    # Judging hands over a lazy ``records.CallRecords``; any sequence will do.
    records: Sequence[CallRecord] = field(default=(), repr=False)
    user_id: str | None = None
    flow_id: str | None = None
    start_time: datetime | None = None  # from the file name, if it carried one

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "outcome": self.outcome.value,
            "rows_total": self.rows_total,
            "rows_valid": self.rows_valid,
            "rows_rejected": self.rows_rejected,
            "file_errors": list(self.file_errors),
            "warnings": list(self.warnings),
            "row_errors": [e.to_json() for e in self.row_errors],
            "user_id": self.user_id,
            "flow_id": self.flow_id,
            "start_time": self.start_time.isoformat() if self.start_time else None,
        }


def rejected_report(name: str, reason: str) -> Report:
    """A file rejected as a whole, before any of its rows counted."""
    return Report(file=name, outcome=Outcome.REJECTED, file_errors=(reason,))
