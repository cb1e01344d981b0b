"""A scale run: 500 accounts on one sshd, 1,000 small files, one `run` replica and then two.

Issue 4: "a scale run: 500 accounts on one local sshd, 2 replicas on PostgreSQL, 1,000
small files; print files per second and the ratio to the single-replica run in the same
benchmark, and peak RSS per replica. Target: 2 replicas at least 1.6x one replica; RSS
under 300 MB each." Replicas are real `sftp-watcher run` processes. Each run starts on a
fresh database; the files are dropped once the replicas have divided the accounts and
opened their sessions, and the clock stops when the database has the last one done
(archived to Success/, its email queued). That is one query every 0.2 s: checking
1,000 paths as often took a quarter of a core from the replicas on a 2-core machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from bench._peers import peer_servers
from bench._servers import (
    call_list,
    emit,
    file_name,
    settings_mapping,
    sftp_customers,
    sshd_server,
)
from tests.servers.sshd import SshdServer

# The numbers, which `make bench` runs (about 5 minutes on 2 shared cores: 3,000
# logins, 2,000 files); `python -m bench.bench_scale --quick` runs half of them.
ACCOUNTS = 500
FILES = 1_000
QUICK_ACCOUNTS = 250
QUICK_FILES = 500
WORKERS = 8
POLL_INTERVAL_SECONDS = 5  # 500 idle sweeps a second would take a whole core
PG_ENV = "SFTP_WATCHER_TEST_PG_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CONNECT_TIMEOUT = 180.0  # every replica's 500 logins
DONE_TIMEOUT = 240.0
SPEEDUP_TARGET = 1.6
RSS_TARGET_MB = 300


def main(accounts: int = ACCOUNTS, files: int = FILES) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, sshd_server() as sshd:
        root = Path(tmp)
        customers = sftp_customers(sshd, accounts)
        dirs = [Path(c["source"]["upload_dir"]).parent for c in customers]
        with peer_servers() as phonon:
            results = {}
            first = 1
            for replicas in (1, 2):
                with fresh_database() as state_url:
                    mapping = settings_mapping(
                        state_url,
                        customers,
                        phonon=phonon,
                        outbox=root / f"outbox-{replicas}",
                        workers=WORKERS,
                        poll_interval_seconds=POLL_INTERVAL_SECONDS,
                        log_format="json",
                    )
                    config = root / f"config-{replicas}.yaml"
                    config.write_text(yaml.safe_dump(mapping), encoding="utf-8")
                    results[replicas] = _run(
                        sshd, config, state_url, dirs, replicas, first, files, root
                    )
                first += files
    one, two = results[1], results[2]
    speedup = two.rate / one.rate
    rss = ", ".join(f"{mb:.0f}" for mb in two.peak_rss_mb)
    scaled = "" if (accounts, files) == (ACCOUNTS, FILES) else " (scaled down)"
    emit(
        f"scale{scaled}: {accounts} accounts, {files} files, PostgreSQL: "
        f"1 replica {one.rate:.1f} files/s "
        f"({one.seconds:.1f} s), 2 replicas {two.rate:.1f} files/s ({two.seconds:.1f} s) = "
        f"{speedup:.2f}x (target >= {SPEEDUP_TARGET:g}x) "
        f"{'OK' if speedup >= SPEEDUP_TARGET else 'MISSED'}"
    )
    worst = max(one.peak_rss_mb + two.peak_rss_mb)
    emit(
        f"scale: peak RSS per replica: 1 replica {one.peak_rss_mb[0]:.0f} MB, 2 replicas {rss} MB "
        f"(target < {RSS_TARGET_MB} MB) {'OK' if worst < RSS_TARGET_MB else 'MISSED'}"
    )


class _Result:
    def __init__(self, seconds: float, files: int, peak_rss_mb: list[float]) -> None:
        self.seconds = seconds
        self.rate = files / seconds
        self.peak_rss_mb = peak_rss_mb


def _run(
    sshd: SshdServer,
    config: Path,
    state_url: str,
    dirs: list[Path],
    replicas: int,
    first: int,
    files: int,
    root: Path,
) -> _Result:
    logins_before = sshd.accepted_logins()
    with ExitStack() as stack:
        processes = [
            stack.enter_context(_replica(config, root / f"replica-{replicas}-{i}.log"))
            for i in range(replicas)
        ]
        _wait(
            lambda: sshd.accepted_logins() - logins_before >= len(dirs),
            CONNECT_TIMEOUT,
            processes,
            "every account to have a session",
        )
        # The replicas divide the accounts once each has seen the other (one membership
        # refresh); by two intervals later each keeps sessions to its own accounts only.
        time.sleep(2 * POLL_INTERVAL_SECONDS + 1)
        expected = _drop(dirs, first, files)
        started = time.monotonic()
        with _done_counter(state_url) as done:
            _wait(lambda: done() >= files, DONE_TIMEOUT, processes, f"{files} files to be done")
        seconds = time.monotonic() - started
        peaks = [_peak_rss_mb(p.pid) for p in processes]
    missing = [p for p in expected if not p.exists()]
    if missing:
        raise RuntimeError(f"{len(missing)} files done but not in Success/, e.g. {missing[0]}")
    return _Result(seconds, files, peaks)


@contextmanager
def _done_counter(state_url: str) -> Iterator[Callable[[], int]]:
    """How many uploads the replicas have finished, asked on one open connection."""
    engine = create_engine(state_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:

            def done() -> int:
                count = connection.execute(
                    text("SELECT count(*) FROM uploads WHERE state = 'done'")
                ).scalar_one()
                connection.rollback()  # a new snapshot next time
                return int(count)

            yield done
    finally:
        engine.dispose()


def _drop(dirs: list[Path], first: int, files: int) -> set[Path]:
    """Spread the files over the accounts, each written under a dot name then renamed in."""
    expected = set()
    for i in range(files):
        n = first + i
        account = dirs[i % len(dirs)]
        name = file_name(n)
        temp = account / "Upload" / f".{name}.part"
        temp.write_bytes(call_list(n))
        temp.rename(account / "Upload" / name)
        expected.add(account / "Success" / name)
    return expected


@contextmanager
def _replica(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sftp_watcher.cli", "run", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait(done: Any, timeout: float, processes: list[subprocess.Popen[bytes]], what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a replica exited ({process.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def _peak_rss_mb(pid: int) -> float:
    """VmHWM: the process's peak resident set size so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database on the test PostgreSQL server, dropped afterwards."""
    base = make_url(os.environ.get(PG_ENV) or DEFAULT_PG_URL)
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    name = f"sftpw_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


if __name__ == "__main__":
    if "--quick" in sys.argv[1:]:
        main(QUICK_ACCOUNTS, QUICK_FILES)
    else:
        main()
