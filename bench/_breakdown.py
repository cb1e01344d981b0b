"""Where a cold `poll-once` spends its time, for bench_sweep.

Run as ``python -m bench._breakdown CONFIG`` in a fresh interpreter: it does what
`poll-once` does, step by step, timing each step's wall time, and sums over the worker
threads the time spent in the SSH handshake, authentication, the SFTP channel, listings,
state-database calls and clock-skew look-ups. It prints one JSON line.
"""

from __future__ import annotations

import functools
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# What `poll-once` imports before it polls (cli, then the command's own imports).
POLL_ONCE_IMPORTS = "import sftp_watcher.cli, sftp_watcher.service"


def import_times(top: int = 8) -> tuple[float, float, list[tuple[str, float]]]:
    """The poll-once path's imports: total wall and CPU seconds, and the ``top`` packages
    (outside sftp_watcher) that took longest, each counted where it was first imported
    (``python -X importtime``: cumulative microseconds per module, nesting by indent)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", POLL_ONCE_IMPORTS],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    packages: dict[str, float] = {}
    total = 0.0
    for line in result.stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if found is None:
            continue
        cumulative, indent, name = int(found[1]) / 1e6, len(found[2]), found[3]
        if indent == 0:  # a module the statement itself imported
            total += cumulative
        if "." not in name and name != "sftp_watcher":
            packages[name] = max(packages.get(name, 0.0), cumulative)
    largest = sorted(packages.items(), key=lambda item: -item[1])[:top]
    return total, cpu, largest


class Tally:
    """Seconds per category, summed over threads; nested calls of one category count once."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()
        self._local = threading.local()

    def wrap(self, category: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth: dict[str, int] = self._local.__dict__.setdefault("depth", defaultdict(int))
            depth[category] += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                depth[category] -= 1
                if depth[category] == 0:
                    with self._lock:
                        self.seconds[category] += time.perf_counter() - started

        return timed

    def patch(self, owner: Any, name: str, category: str) -> None:
        setattr(owner, name, self.wrap(category, getattr(owner, name)))


def instrument(tally: Tally) -> None:
    from sftp_watcher import poller
    from sftp_watcher.sources import sftp
    from sftp_watcher.state.store import Store

    tally.patch(sftp, "connect_socket", "tcp connect")
    tally.patch(sftp, "start_transport", "ssh handshake")
    tally.patch(sftp, "authenticate", "authentication")
    tally.patch(sftp, "load_private_key", "private key loading")
    tally.patch(sftp, "open_sftp", "sftp channel")
    tally.patch(sftp.SftpSource, "list", "listing")
    tally.patch(poller.Account, "_clock_skew", "clock-skew look-up")
    tally.patch(poller.Account, "sweep", "whole sweeps")
    skip = {"open", "migrate", "close", "session", "holding_connection"}
    for name, member in vars(Store).items():
        if callable(member) and not name.startswith("_") and name not in skip:
            tally.patch(Store, name, "state queries")


def main(config: str) -> None:
    wall: dict[str, float] = {}

    def step(name: str, action: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = action()
        wall[name] = time.perf_counter() - started
        return value

    step("imports", lambda: __import__("sftp_watcher.service"))
    from sftp_watcher.config import load_settings
    from sftp_watcher.observability.logs import configure_logging, register_secrets
    from sftp_watcher.service import Service
    from sftp_watcher.state.store import Store

    tally = Tally()
    instrument(tally)
    tally.patch(Store, "migrate", "migrations check")
    with open(os.devnull, "w", encoding="utf-8") as sink:
        configure_logging("json", "INFO", stream=sink)
        settings = step("configuration", lambda: load_settings(config))
        step("secrets registered", lambda: register_secrets(settings))
        service = step("service set-up (store open, migrations check)", lambda: Service(settings))
        try:
            step("poll", service.poll_once)
        finally:
            step("close", service.close)
    wall["migrations check (in set-up)"] = tally.seconds.pop("migrations check", 0.0)
    print(json.dumps({"wall": wall, "threads": dict(tally.seconds)}))


if __name__ == "__main__":
    main(sys.argv[1])
