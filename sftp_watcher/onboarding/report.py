"""setup-test's result: one named check after another, each with a status and what to fix."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sftp_watcher.calllist.text import escape_terminal


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a check status, not a password
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"


_MARKS = {Status.PASS: "✔", Status.FAIL: "✘", Status.WARN: "!", Status.SKIP: "-"}


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist; ``fix`` is plain words for the onboarding engineer."""

    name: str
    status: Status
    detail: str
    fix: str = ""

    @classmethod
    def passed(cls, name: str, detail: str) -> Check:
        return cls(name, Status.PASS, detail)

    @classmethod
    def failed(cls, name: str, detail: str, fix: str) -> Check:
        return cls(name, Status.FAIL, detail, fix)

    @classmethod
    def warning(cls, name: str, detail: str, fix: str = "") -> Check:
        return cls(name, Status.WARN, detail, fix)

    @classmethod
    def skipped(cls, name: str, reason: str, fix: str = "") -> Check:
        return cls(name, Status.SKIP, reason, fix)

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class SetupReport:
    """Every check in the order it ran. ``ok``: nothing failed (warnings and skips are fine)."""

    customer: str
    checks: tuple[Check, ...]

    @classmethod
    def of(cls, customer: str, checks: Iterable[Check]) -> SetupReport:
        return cls(customer, tuple(checks))

    @property
    def ok(self) -> bool:
        return all(c.status is not Status.FAIL for c in self.checks)

    def count(self, status: Status) -> int:
        return sum(1 for c in self.checks if c.status is status)

    def to_json(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "ok": self.ok,
            "checks": [c.to_json() for c in self.checks],
        }

    def render_text(self) -> str:
        """A checklist for people: a mark, the check's name and detail, then what to fix."""
        width = max((len(c.name) for c in self.checks), default=0)
        failed, warned = self.count(Status.FAIL), self.count(Status.WARN)
        verdict = "all checks passed" if self.ok else f"{failed} check(s) failed"
        if warned:
            verdict += f", {warned} warning(s)"
        lines = [f"setup-test for customer {self.customer}: {verdict}", ""]
        for check in self.checks:
            lines.append(f"{_MARKS[check.status]} {check.name.ljust(width)}  {check.detail}")
            if check.fix and check.status in {Status.FAIL, Status.WARN}:
                lines.append(f"    fix: {check.fix}")
        # Server banners and error texts are not ours: escaped, line breaks kept.
        return "\n".join(escape_terminal(line) for line in "\n".join(lines).split("\n"))
