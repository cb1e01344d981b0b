"""The `starttime` cells (SPEC 5): ISO 8601 with a time of day, from today, not too far ahead,
and within the customer's calling hours.

A start time earlier today means "call now" (as Phonon does), so the calling hours are
checked at the moment the call really starts: the later of the start time and now.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from sftp_watcher.calling_hours import CallingHours
from sftp_watcher.calllist.text import quoted

# Extended ISO 8601 only: the basic form (20260208T2112) is never what a spreadsheet writes,
# and accepting it would let 08022026 style day-first dates slip through as something else.
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}"
    r"(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EXAMPLE = "2026-02-08T21:12:00"


class StartTimeJudge:
    """Judges the `starttime` cells of one file against one clock; remembers every value."""

    def __init__(
        self,
        tz: ZoneInfo,
        now: datetime,
        default: datetime,
        max_days: int,
        hours: CallingHours | None = None,
        *,
        named_default: bool = False,
    ) -> None:
        """``default`` is the file name's start time (``named_default``), else ``now``."""
        self._tz = tz
        self._now = now.astimezone(tz)
        self._today = self._now.date()
        self._latest = now + timedelta(days=max_days)
        self._max_days = max_days
        self._hours = hours
        self._default = default.astimezone(tz)
        self._seen: dict[str, tuple[datetime, str | None]] = {}
        self.default_problem = (
            self._outside_hours(self._default, "the file name's start time")
            if named_default
            else self._outside_hours(self._now, "no start time", when="means")
        )
        """Why a row without its own start time is rejected, or None."""

    def column(self, values: Sequence[str]) -> tuple[list[datetime], dict[int, str]]:
        """The start time per cell (the default when empty or invalid) and reasons by index."""
        if not values:
            return [], {}
        # A list holds a few hundred distinct start times at most: judge each one once.
        codes, distinct = pd.factorize(np.array(values, dtype=object))
        results = [self._judged(raw) for raw in distinct.tolist()]
        times = [start for start, _ in results]
        bad = [code for code, (_, reason) in enumerate(results) if reason is not None]
        problems: dict[int, str] = {}
        if bad:
            for index in np.flatnonzero(np.isin(codes, bad)).tolist():
                problems[index] = str(results[codes[index]][1])
        return list(map(times.__getitem__, codes.tolist())), problems

    def _judged(self, raw: str) -> tuple[datetime, str | None]:
        result = self._seen.get(raw)
        if result is None:
            result = self._seen[raw] = self._judge(raw)
        return result

    def _judge(self, raw: str) -> tuple[datetime, str | None]:
        value = raw.strip()
        if not value:
            return self._default, self.default_problem
        shown = quoted(value)
        start = self._parse(shown, value)
        if isinstance(start, str):
            return self._default, start
        if start.date() < self._today:
            return self._default, (
                f"{shown} is in the past (today is {self._today.isoformat()} in the account's "
                "time zone): give a start time from today on, or leave it empty to call now"
            )
        if start > self._latest:
            return self._default, (
                f"{shown} is more than {self._max_days} days ahead, usually a day/month swap: "
                "write dates as YYYY-MM-DD"
            )
        return start, self._outside_hours(start, shown)

    def _outside_hours(
        self, start: datetime, shown: str, when: str = "is earlier today, so"
    ) -> str | None:
        """Why a call starting at ``start`` may not start then, or None."""
        hours = self._hours
        starts = max(start, self._now)
        if hours is None or hours.allows(starts.time()):
            return None
        window = f"the calling hours {hours} ({self._tz.key})"
        if starts == self._now:  # earlier today, or no start time at all: called now
            return (
                f"{shown} {when} the call starts now, at {starts:%H:%M}, outside {window}: "
                "give the row a start time within them"
            )
        return (
            f"{shown} starts the call at {starts:%Y-%m-%d %H:%M} {self._tz.key}, outside "
            f"{window}: give a start time within them"
        )

    def _parse(self, shown: str, value: str) -> datetime | str:
        """The start time in the account's time zone, or the reason (quoting ``shown``)."""
        if _DATE_ONLY.fullmatch(value):
            return f"{shown} has no time of day: write the start time as {_EXAMPLE}"
        if not _ISO.fullmatch(value):
            return (
                f"{shown} is not an ISO 8601 date and time: write it as YYYY-MM-DDTHH:MM:SS, "
                f"e.g. {_EXAMPLE}"
            )
        try:
            parsed = datetime.fromisoformat(value.upper())
        except ValueError:
            return f"{shown} is not a real date and time (YYYY-MM-DDTHH:MM:SS)"
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=self._tz)
        return parsed.astimezone(self._tz)
