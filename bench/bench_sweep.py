"""A sweep of 200 idle accounts on one sshd, against the same listings with bare paramiko.

Issue 3: "a sweep over 200 accounts with empty Upload/ folders on one local sshd, as the
`run` service does it once its connections are open, against the floor of the same 200
listings done with bare paramiko at its best (already open connections, Nagle off) in
the same run; target at most 2x". Both sides use `workers` threads.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench._servers import (
    bare_connections,
    emit,
    in_pool,
    quiet_logs,
    settings_mapping,
    sftp_customers,
    sshd_server,
    timed,
)
from sftp_watcher.config import settings_from_mapping
from sftp_watcher.poller import Account
from sftp_watcher.service import Service

ACCOUNTS = 200
WORKERS = 8  # the default `workers`
ROUNDS = 7
TARGET = 2.0


def main(accounts: int = ACCOUNTS, rounds: int = ROUNDS) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp, sshd_server() as sshd:
        customers = sftp_customers(sshd, accounts)
        mapping = settings_mapping(
            f"sqlite:///{Path(tmp) / 'state.db'}",
            customers,
            outbox=Path(tmp) / "outbox",
            workers=WORKERS,
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


if __name__ == "__main__":
    main()
