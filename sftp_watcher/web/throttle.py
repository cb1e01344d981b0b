"""Sign-in slow-down (SPEC 12): after 5 failed sign-ins within 15 minutes for one email
or one address, every answer to it waits, up to 10 s; a right password still signs in.

Kept in memory: the page is served by one process (the `run` parent), and a restart
forgetting a few minutes of failures costs an attacker nothing worth having.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

FREE_FAILURES = 5
WINDOW_SECONDS = 15 * 60
MAX_DELAY_SECONDS = 10.0
# Beyond this many keys the oldest are forgotten: memory stays bounded under a flood.
_MAX_KEYS = 10_000


class SignInThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def delay(self, email: str, address: str) -> float:
        """Seconds to wait before answering this sign-in: 0 for the first 5 failures,
        then 1, 2, 4, 8, 10, 10, ... for each further one."""
        with self._lock:
            count = max(self._count(_email_key(email)), self._count(_address_key(address)))
        if count < FREE_FAILURES:
            return 0.0
        return float(min(MAX_DELAY_SECONDS, 2 ** (count - FREE_FAILURES)))

    def failed(self, email: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            for key in (_email_key(email), _address_key(address)):
                times = self._failures.pop(key, None) or deque()
                times.append(now)
                self._failures[key] = times
            while len(self._failures) > _MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, email: str) -> None:
        """The email's failures are forgotten (not the address's: it may be guessing others)."""
        with self._lock:
            self._failures.pop(_email_key(email), None)

    def _count(self, key: str) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        horizon = self._clock() - WINDOW_SECONDS
        while times and times[0] < horizon:
            times.popleft()
        return len(times)


def _email_key(email: str) -> str:
    return "email:" + email.strip().lower()


def _address_key(address: str) -> str:
    return "address:" + address
