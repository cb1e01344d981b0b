"""What the state database costs a file: PostgreSQL CPU and round trips (bench_scale).

- Statements and transactions are counted inside each replica by SQLAlchemy events,
  installed by a ``sitecustomize`` module the benchmark puts first on the replicas'
  ``PYTHONPATH``; each replica writes its running totals to a file twice a second.
  Without pipeline mode psycopg makes one round trip per statement and one per BEGIN and
  per COMMIT or ROLLBACK, so round trips = statements + begins + ends.
- PostgreSQL's CPU is that of the server processes serving the benchmark's database (their
  command line names it), sampled while the files are processed.
- ``pg_stat_database.xact_commit`` cross-checks the transaction count from the server side.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from bench._servers import processes_cpu

SITECUSTOMIZE = '''
"""bench_scale: count this replica's SQL statements and transactions (bench/_pgcost.py)."""
import atexit, json, os, threading

def _install():
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counts = {"statements": 0, "begins": 0, "ends": 0}
    lock = threading.Lock()
    path = os.path.join(os.environ["BENCH_SQL_COUNTS"], f"{os.getpid()}.json")

    def bump(name):
        with lock:
            counts[name] += 1

    event.listen(Engine, "before_cursor_execute", lambda *a, **k: bump("statements"))
    event.listen(Engine, "begin", lambda *a: bump("begins"))
    event.listen(Engine, "commit", lambda *a: bump("ends"))
    event.listen(Engine, "rollback", lambda *a: bump("ends"))

    def write():
        with lock:
            text = json.dumps(counts)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)

    def loop():
        while True:
            threading.Event().wait(0.5)
            write()

    threading.Thread(target=loop, daemon=True, name="bench-sql-counts").start()
    atexit.register(write)

if os.environ.get("BENCH_SQL_COUNTS"):
    _install()
'''


@dataclass(frozen=True)
class SqlCounts:
    statements: int = 0
    begins: int = 0
    ends: int = 0

    @property
    def round_trips(self) -> int:
        return self.statements + self.begins + self.ends

    def __sub__(self, other: SqlCounts) -> SqlCounts:
        return SqlCounts(
            self.statements - other.statements, self.begins - other.begins, self.ends - other.ends
        )


def counting_env(directory: Path) -> dict[str, str]:
    """Environment for a replica whose statements are counted into ``directory``."""
    hook = directory / "hook"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    root = Path(__file__).resolve().parent.parent
    return {**os.environ, "PYTHONPATH": f"{hook}:{root}", "BENCH_SQL_COUNTS": str(directory)}


def read_counts(directory: Path) -> SqlCounts:
    """The replicas' running totals so far, summed."""
    total = SqlCounts()
    for path in directory.glob("*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        total = SqlCounts(
            total.statements + data["statements"],
            total.begins + data["begins"],
            total.ends + data["ends"],
        )
    return total


class BackendCpu:
    """CPU seconds of the PostgreSQL server processes whose command line names ``database``.

    ``sample()`` often enough that a backend ending mid-run keeps its last reading."""

    def __init__(self, database: str) -> None:
        self._tag = f" {database} "
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._started = False

    def start(self) -> None:
        self._base = self._read()
        self._last = dict(self._base)
        self._started = True

    def sample(self) -> None:
        self._last.update(self._read())

    def seconds(self) -> float:
        self.sample()
        return sum(cpu - self._base.get(pid, 0.0) for pid, cpu in self._last.items())

    def _read(self) -> dict[int, float]:
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if title.startswith("postgres: ") and self._tag in title + " ":
                    found[int(entry.name)] = processes_cpu([int(entry.name)])
            except (OSError, ValueError, IndexError):
                continue
        return found
