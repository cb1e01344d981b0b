"""The `starttime` cells (SPEC 5): ISO 8601 with a time of day, from today, not too far ahead."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

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

    def __init__(self, tz: ZoneInfo, now: datetime, default: datetime, max_days: int) -> None:
        self._tz = tz
        self._today = now.astimezone(tz).date()
        self._latest = now + timedelta(days=max_days)
        self._max_days = max_days
        self._default = default.astimezone(tz)
        self._seen: dict[str, tuple[datetime, str | None]] = {}

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
            return self._default, None
        start = self._parse(value)
        if isinstance(start, str):
            return self._default, start
        if start.date() < self._today:
            return self._default, (
                f"{value} is in the past (today is {self._today.isoformat()} in the account's "
                "time zone): give a start time from today on, or leave it empty to call now"
            )
        if start > self._latest:
            return self._default, (
                f"{value} is more than {self._max_days} days ahead, usually a day/month swap: "
                "write dates as YYYY-MM-DD"
            )
        return start, None

    def _parse(self, value: str) -> datetime | str:
        """The start time in the account's time zone, or the reason it is not one."""
        if _DATE_ONLY.fullmatch(value):
            return f"{value} has no time of day: write the start time as {_EXAMPLE}"
        if not _ISO.fullmatch(value):
            return (
                f"{value} is not an ISO 8601 date and time: write it as YYYY-MM-DDTHH:MM:SS, "
                f"e.g. {_EXAMPLE}"
            )
        try:
            parsed = datetime.fromisoformat(value.upper())
        except ValueError:
            return f"{value} is not a real date and time (YYYY-MM-DDTHH:MM:SS)"
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=self._tz)
        return parsed.astimezone(self._tz)
