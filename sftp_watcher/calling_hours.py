"""A customer's calling hours (SPEC 5, 7): the daily window, in its time zone, when calls may start.

``"09:00-21:00"``: the start is in, the end is out (a call may start at 09:00 and at
20:59:59, not at 21:00). A window across midnight (``"21:00-06:00"``) runs from the
evening into the next morning. Equal ends are refused: "never" and "always" are both
better said by leaving the key out or removing the customer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

_SHAPE = re.compile(r"([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})")


@dataclass(frozen=True, slots=True)
class CallingHours:
    start: time  # first moment a call may start
    end: time  # first moment after the window

    @classmethod
    def parse(cls, text: str) -> CallingHours:
        """``HH:MM-HH:MM`` (24-hour clock); ``ValueError`` says what is wrong."""
        match = _SHAPE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"calling hours {text!r} must look like 09:00-21:00 (HH:MM-HH:MM)")
        hours = [int(match[n]) for n in (1, 3)]
        minutes = [int(match[n]) for n in (2, 4)]
        if any(h > 23 for h in hours) or any(m > 59 for m in minutes):
            raise ValueError(f"calling hours {text!r}: hours run 00-23 and minutes 00-59")
        start, end = (time(h, m) for h, m in zip(hours, minutes, strict=True))
        if start == end:
            raise ValueError(f"calling hours {text!r} start and end at the same time")
        return cls(start, end)

    def allows(self, moment: time) -> bool:
        """Whether a call may start at this wall-clock time of the customer's zone."""
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # across midnight

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"
