"""Sweeps of 200 idle accounts on one sshd: warm (`run`, sessions open) and cold (`poll-once`).

Warm (issue 3): one `run` sweep on open connections against the floor of the same 200
listings with bare paramiko on open connections (Nagle off); target at most 2x.

Cold (issue 19 §3): `sftp-watcher poll-once` as cron or a Kubernetes CronJob starts it (a
fresh interpreter, SQLite state already migrated), `max_sessions_per_host` equal to
`workers`, against the floor of bare paramiko connect + key auth + SFTP channel + listing
with `workers` threads; target at most 1.5x. Then where the difference goes: interpreter
start and imports (`python -X importtime`), configuration, the state database's open and
migrations check, the service's set-up, and, summed over the worker threads, TCP + SSH
handshake, authentication (key loading included), SFTP channel, listing, state queries and
clock-skew look-ups.

    python -m bench.bench_sweep             # both
    python -m bench.bench_sweep --cold      # the cold start only
"""

from __future__ import annotations

import getpass
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import paramiko
import yaml

from bench._breakdown import import_times
from bench._servers import (
    bare_connections,
    customer,
    emit,
    in_pool,
    quiet_logs,
    settings_mapping,
    sftp_customers,
    sshd_server,
    timed,
    timed_cpu,
)
from sftp_watcher.config import settings_from_mapping
from sftp_watcher.poller import Account
from sftp_watcher.service import Service
from tests.servers.sshd import SshdServer

ACCOUNTS = 200
WORKERS = 8  # the default `workers`
ROUNDS = 7
COLD_ROUNDS = 3
TARGET = 2.0
COLD_TARGET = 1.5
ROOT = Path(__file__).resolve().parent.parent


def main(accounts: int = ACCOUNTS, rounds: int = ROUNDS, *, warm: bool = True) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp, sshd_server() as sshd:
        if warm:
            warm_sweep(sshd, Path(tmp), accounts, rounds)
        cold_start(sshd, Path(tmp), accounts)


def warm_sweep(sshd: SshdServer, tmp: Path, accounts: int, rounds: int) -> None:
    customers = sftp_customers(sshd, accounts)
    mapping = settings_mapping(
        f"sqlite:///{tmp / 'state.db'}", customers, outbox=tmp / "outbox", workers=WORKERS
    )
    uploads = [c["source"]["upload_dir"] for c in customers]
    with quiet_logs(), Service(settings_from_mapping(mapping)) as service:
        warm = service.poll_once()  # opens every connection, as `run`'s first sweeps do
        if warm.unreachable:
            raise RuntimeError(f"warm-up failed: {warm.unreachable[0].error}")
        accounts_list = list(service.accounts.values())

        def sweep(account: Account) -> object:
            return account.sweep()

        with bare_connections(sshd, uploads) as clients:
            pairs = list(zip(clients, uploads, strict=True))
            service_times, floor_times = [], []
            for _ in range(rounds):  # interleaved, so noise hits both sides alike
                service_times.append(timed(lambda: in_pool(WORKERS, sweep, accounts_list)))
                floor_times.append(
                    timed(lambda: in_pool(WORKERS, lambda p: p[0].listdir_attr(p[1]), pairs))
                )
    best_service, best_floor = min(service_times), min(floor_times)
    ratio = best_service / best_floor
    emit(
        f"sweep: {accounts} accounts, {WORKERS} workers, best of {rounds}: service "
        f"{best_service:.3f} s vs bare paramiko {best_floor:.3f} s = {ratio:.1f}x "
        f"(target <= {TARGET:g}x) {'OK' if ratio <= TARGET else 'MISSED'}"
    )


def cold_config(sshd: SshdServer, tmp: Path, accounts: int) -> tuple[Path, list[str]]:
    customers = []
    for i in range(accounts):
        name = f"cold{i:03d}"
        sshd.add_account(name)
        source = sshd.source_config(name, max_sessions_per_host=WORKERS)
        customers.append(customer(name, source.model_dump(mode="json")))
    mapping = settings_mapping(
        f"sqlite:///{tmp / 'cold.db'}",
        customers,
        outbox=tmp / "cold-outbox",
        workers=WORKERS,
        log_format="json",
    )
    config = tmp / "cold.yaml"
    config.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return config, [c["source"]["upload_dir"] for c in customers]


def poll_once(config: Path) -> tuple[float, float]:
    """Wall and CPU time of one `sftp-watcher poll-once` in a fresh interpreter (logs
    discarded)."""
    command = [sys.executable, "-m", "sftp_watcher.cli", "poll-once", "--config", str(config)]
    return run_timed(command)


def run_timed(command: list[str]) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def run() -> None:
        subprocess.run(
            command, env=env, check=True, timeout=600, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    wall = timed(run)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def floor(sshd: SshdServer, uploads: list[str]) -> tuple[float, float]:
    """Bare paramiko: connect, key auth, SFTP channel, one listing, close; ``WORKERS`` threads."""
    key = paramiko.Ed25519Key.from_private_key_file(str(sshd.client_key_path))
    user = getpass.getuser()

    def one(folder: str) -> None:
        sock = socket.create_connection(("127.0.0.1", sshd.port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with paramiko.Transport(sock) as transport:
            transport.connect(username=user, pkey=key)
            client = paramiko.SFTPClient.from_transport(transport)
            if client is None:
                raise RuntimeError("the server refused the sftp subsystem")
            with client:
                client.listdir_attr(folder)

    return timed_cpu(lambda: in_pool(WORKERS, one, uploads))


def cold_start(sshd: SshdServer, tmp: Path, accounts: int) -> None:
    config, uploads = cold_config(sshd, tmp, accounts)
    first, _ = poll_once(config)  # creates and migrates the database
    cold_times, floor_times = [], []
    for _ in range(COLD_ROUNDS):
        cold_times.append(poll_once(config))
        floor_times.append(floor(sshd, uploads))
    (best_cold, cold_cpu), (best_floor, floor_cpu) = min(cold_times), min(floor_times)
    ratio = best_cold / best_floor
    emit(
        f"cold start: poll-once over {accounts} idle accounts, {WORKERS} workers and sessions, "
        f"best of {COLD_ROUNDS}: {best_cold:.2f} s (first run, creating the database: "
        f"{first:.2f} s) vs bare paramiko connect + auth + listing {best_floor:.2f} s = "
        f"{ratio:.2f}x (target <= {COLD_TARGET:g}x) {'OK' if ratio <= COLD_TARGET else 'MISSED'}"
        f"; CPU {cold_cpu:.2f} s vs the floor's {floor_cpu:.2f} s (client side)"
    )
    interpreter = min(run_timed([sys.executable, "-c", "pass"])[0] for _ in range(3))
    imports, cpu, top = import_times()
    emit(
        f"cold start: interpreter {interpreter:.2f} s; imports of the poll-once path "
        f"{imports:.2f} s ({cpu:.2f} s CPU with the interpreter), the largest: "
        + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in top)
    )
    measured = phases_in_child(config)
    emit("cold start, in-process phases: " + describe(measured, accounts))


def phases_in_child(config: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "bench._breakdown", str(config)],
        env=env,
        check=True,
        timeout=600,
        capture_output=True,
        text=True,
    )
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def describe(figures: dict[str, Any], accounts: int) -> str:
    wall = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in figures["wall"].items())
    threads = ", ".join(
        f"{name} {seconds:.2f} s ({seconds / accounts * 1000:.1f} ms/account)"
        for name, seconds in figures["threads"].items()
    )
    return f"{wall}; summed over the worker threads: {threads}"


if __name__ == "__main__":
    if "--cold" in sys.argv[1:]:
        main(warm=False)
    else:
        main()
