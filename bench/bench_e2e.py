"""100 small files across 10 accounts end to end, against bare paramiko's get + rename of them.

Issue 3: "100 small files across 10 accounts processed end to end (Phonon stub and SMTP
sink on loopback), against the floor of bare paramiko at its best (open connection,
Nagle off, prefetch) doing get + rename of the same files; target at most 3x".
Both sides use `workers` threads over already open connections. The Phonon stub and the
SMTP sink run in a process of their own, as the real ones run on other machines.
"""

from __future__ import annotations

import io
import itertools
import tempfile
from functools import partial
from pathlib import Path

import paramiko

from bench._peers import peer_servers
from bench._servers import (
    bare_connections,
    call_list,
    emit,
    file_name,
    in_pool,
    quiet_logs,
    settings_mapping,
    sftp_customers,
    sshd_server,
    timed_cpu,
)
from sftp_watcher.config import settings_from_mapping
from sftp_watcher.service import Service

ACCOUNTS = 10
FILES_PER_ACCOUNT = 10
WORKERS = 8
ROUNDS = 3
TARGET = 3.0


def main(rounds: int = ROUNDS) -> None:
    numbers = itertools.count(1)  # file names and contents never repeat within the run

    with (
        tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp,
        sshd_server() as sshd,
        peer_servers() as peers,
    ):
        customers = sftp_customers(sshd, ACCOUNTS)
        mapping = settings_mapping(
            f"sqlite:///{Path(tmp) / 'state.db'}",
            customers,
            phonon=peers,
            smtp=peers.smtp,
            workers=WORKERS,
        )
        dirs = [Path(c["source"]["upload_dir"]).parent for c in customers]

        def drop() -> list[list[str]]:
            batches = []
            for account in dirs:
                names = []
                for _ in range(FILES_PER_ACCOUNT):
                    n = next(numbers)
                    names.append(file_name(n))
                    (account / "Upload" / names[-1]).write_bytes(call_list(n))
                batches.append(names)
            return batches

        def archived(batches: list[list[str]]) -> int:
            return sum(
                (account / "Success" / name).exists()
                for account, names in zip(dirs, batches, strict=True)
                for name in names
            )

        with quiet_logs(), Service(settings_from_mapping(mapping)) as service:
            drop()
            service.poll_once()  # warm-up: connections open, code paths warm
            service_times, floor_times = [], []
            with bare_connections(sshd, [str(d) for d in dirs]) as clients:
                for _ in range(rounds):
                    batches = drop()
                    service_times.append(timed_cpu(service.poll_once))
                    if archived(batches) != ACCOUNTS * FILES_PER_ACCOUNT:
                        raise RuntimeError("the service did not archive every file")
                    batches = drop()
                    work = list(zip(clients, dirs, batches, strict=True))
                    floor_times.append(timed_cpu(partial(in_pool, WORKERS, _get_rename, work)))
            emails, calls = peers.received()
    (best_service, service_cpu), (best_floor, floor_cpu) = min(service_times), min(floor_times)
    ratio = best_service / best_floor
    files = ACCOUNTS * FILES_PER_ACCOUNT
    emit(
        f"e2e: {files} files / {ACCOUNTS} accounts, {WORKERS} workers, best of {rounds}: "
        f"service {best_service:.3f} s ({files / best_service:.0f} files/s; "
        f"{emails} emails, {calls} calls in all) vs "
        f"bare paramiko get+rename {best_floor:.3f} s = {ratio:.1f}x "
        f"(target <= {TARGET:g}x) {'OK' if ratio <= TARGET else 'MISSED'}; "
        # Where the time goes: both sides are bound by this process's CPU (its GIL).
        f"CPU a file: service {service_cpu / files * 1000:.1f} ms, "
        f"floor {floor_cpu / files * 1000:.1f} ms"
    )


def _get_rename(work: tuple[paramiko.SFTPClient, Path, list[str]]) -> None:
    """One account's files, one after another: prefetching get, then rename to Success/."""
    sftp, account, names = work
    for name in names:
        source = f"{account}/Upload/{name}"
        sftp.getfo(source, io.BytesIO(), prefetch=True)
        sftp.rename(source, f"{account}/Success/{name}")


if __name__ == "__main__":
    main()
