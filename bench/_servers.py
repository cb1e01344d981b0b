"""Shared set-up for the service benchmarks: loopback servers, configurations, bare floors.

Every server here is a context manager that cleans up after itself; the benches only
ever talk to 127.0.0.1. The test-suite servers (tests/servers) are reused as they are.
"""

from __future__ import annotations

import getpass
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import paramiko

from sftp_watcher.observability.logs import configure_logging
from tests.servers.rig import FLOW_ID, SECRET, USER_ID, mobile
from tests.servers.sshd import SshdServer, find_sshd

T = TypeVar("T")


class PhononHosts(Protocol):
    """Where the Phonon stub listens (bench._peers runs it in a process of its own)."""

    realtime_url: str
    bulk_url: str


# Enough unauthenticated start-ups and sessions for a few hundred accounts on one server.
MANY_ACCOUNTS_SSHD = ("MaxStartups 600:30:800", "MaxSessions 600")


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Log as `run` does (JSON at INFO, so the cost is measured) but into /dev/null."""
    with open(os.devnull, "w", encoding="utf-8") as sink:
        configure_logging("json", "INFO", stream=sink)
        try:
            yield
        finally:
            configure_logging("json", "WARNING")


@contextmanager
def sshd_server(extra_config: Sequence[str] = MANY_ACCOUNTS_SSHD) -> Iterator[SshdServer]:
    path = find_sshd()
    if path is None:
        raise RuntimeError("the service benchmarks need OpenSSH sshd (/usr/sbin/sshd)")
    with tempfile.TemporaryDirectory(prefix="bench-sshd-") as tmp:
        server = SshdServer(Path(tmp), path)
        server.start(extra_config)
        try:
            yield server
        finally:
            server.stop()


def customer(name: str, source: dict[str, Any]) -> dict[str, Any]:
    """A customer as config.yaml holds it: the test rig's user id, flow and secret."""
    return {
        "id": name,
        "user_id": USER_ID,
        "emails": [f"ops@{name}.example"],
        "source": source,
        "flows": [{"id": FLOW_ID, "type": "dialer", "security_id": SECRET}],
    }


def sftp_customers(sshd: SshdServer, count: int, **source: Any) -> list[dict[str, Any]]:
    """``count`` accounts on ``sshd`` (folders created), as customers ``acct000``..."""
    customers = []
    for i in range(count):
        name = f"acct{i:03d}"
        sshd.add_account(name)
        # max_sessions_per_host: every account keeps its connection open, as `run` does.
        config = sshd.source_config(name, max_sessions_per_host=count + 8, **source)
        customers.append(customer(name, config.model_dump(mode="json")))
    return customers


def settings_mapping(
    state_url: str,
    customers: list[dict[str, Any]],
    *,
    phonon: PhononHosts | None = None,
    smtp: dict[str, Any] | None = None,
    outbox: Path | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A whole configuration: the stub (or dry run), an SMTP config (or .eml files)."""
    phonon_config: dict[str, Any] = (
        {"realtime_base_url": phonon.realtime_url, "bulk_base_url": phonon.bulk_url}
        if phonon is not None
        else {"dry_run": True, "dry_run_log": str((outbox or Path()) / "phonon.jsonl")}
    )
    email: dict[str, Any] = {"from": "Phonon Uploads <uploads@phonon.example>"}
    if smtp is not None:
        email |= {"backend": "smtp", "smtp": smtp}
    else:
        email |= {"backend": "file", "file_dir": str(outbox)}
    return {
        "min_file_age_seconds": 0,
        "state_url": state_url,
        "metrics_port": None,
        "phonon": {**phonon_config, "timeout_seconds": 10, "retry_budget_seconds": 30},
        "email": email,
        "customers": customers,
        **overrides,
    }


def call_list(seed: int, rows: int = 5) -> bytes:
    """A small valid call list: ``rows`` distinct mobiles with a flow variable."""
    lines = ["tel1,Name"] + [f"{mobile(seed * 1000 + i)},Person {i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def file_name(index: int) -> str:
    """A valid upload name, distinct per index (the start time is tomorrow)."""
    when = time.gmtime(time.time() + 86_400)
    stamp = f"{when.tm_mday:02d}{when.tm_mon:02d}{when.tm_year}{when.tm_hour:02d}{index % 60:02d}"
    return f"C{USER_ID}_{FLOW_ID}_upload_{stamp}{index // 60:02d}.csv"


# -- the bare-paramiko floor -------------------------------------------------------------


@contextmanager
def bare_connections(sshd: SshdServer, names: Sequence[str]) -> Iterator[list[paramiko.SFTPClient]]:
    """One open SFTP session per account, paramiko at its best: Nagle off, key login."""
    key = paramiko.Ed25519Key.from_private_key_file(str(sshd.client_key_path))
    transports: list[paramiko.Transport] = []
    clients: list[paramiko.SFTPClient] = []
    try:
        for _ in names:
            sock = socket.create_connection(("127.0.0.1", sshd.port), timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport = paramiko.Transport(sock)
            transports.append(transport)
            transport.connect(username=getpass.getuser(), pkey=key)
            client = paramiko.SFTPClient.from_transport(transport)
            if client is None:
                raise RuntimeError("the server refused the sftp subsystem")
            clients.append(client)
        yield clients
    finally:
        for client in clients:
            client.close()
        for transport in transports:
            transport.close()


def in_pool(workers: int, work: Callable[[T], object], items: Sequence[T]) -> None:
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, items))


def timed(action: Callable[[], object]) -> float:
    return timed_cpu(action)[0]


def timed_cpu(action: Callable[[], object]) -> tuple[float, float]:
    """Wall time and this process's CPU time (every thread, user and system) of ``action``."""
    started, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - started, time.process_time() - cpu


def processes_cpu(pids: Sequence[int]) -> float:
    """CPU seconds (user and system) used so far by the processes ``pids`` (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        # The fields after the command name, which may itself hold spaces.
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


@contextmanager
def stderr_to_devnull() -> Iterator[None]:
    """File descriptor 2 on /dev/null while the block runs: child processes started in it
    keep it (their logs, like ours in ``quiet_logs``, are written and thrown away)."""
    saved = os.dup(2)
    with open(os.devnull, "w", encoding="utf-8") as sink:
        os.dup2(sink.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 50 values is the 48th smallest)."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def emit(line: str) -> None:
    print(line, flush=True)
