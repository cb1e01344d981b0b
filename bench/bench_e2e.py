"""100 small files across 10 accounts end to end, against bare paramiko's get + rename of them.

Issue 3: "100 small files across 10 accounts processed end to end (Phonon stub and SMTP
sink on loopback), against the floor of bare paramiko at its best (open connection,
Nagle off, prefetch) doing get + rename of the same files; target at most 3x".
Both sides use `workers` threads over already open connections. The service is measured
as a replica on this machine runs it, a sweep process per core (`processes`), and in
one process. The Phonon stub and the
SMTP sink run in a process of their own, as the real ones run on other machines.
"""

from __future__ import annotations

import io
import itertools
import os
import tempfile
import time
from collections.abc import Callable
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
    processes_cpu,
    quiet_logs,
    settings_mapping,
    sftp_customers,
    sshd_server,
    stderr_to_devnull,
    timed_cpu,
)
from sftp_watcher.config import settings_from_mapping
from sftp_watcher.processes import SweepProcesses
from sftp_watcher.service import Service

ACCOUNTS = 10
FILES_PER_ACCOUNT = 10
WORKERS = 8
# The replica as an operator sets it up on this machine: two sweep processes per core
# (the best here: 2, 3, 4, 5 and 10 processes on 2 cores measured 4.8x, 4.5x, 3.8x, 3.7x
# and 4.8x in one sitting; a process also waits on its own round trips).
PROCESSES = max(1, min(2 * (os.cpu_count() or 1), ACCOUNTS))
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

        def measured(poll: Callable[[], object], cpu: Callable[[], float]) -> tuple[float, float]:
            batches = drop()
            started = cpu()
            wall, _ = timed_cpu(poll)
            archived = sum(
                (account / "Success" / name).exists()
                for account, names in zip(dirs, batches, strict=True)
                for name in names
            )
            if archived != ACCOUNTS * FILES_PER_ACCOUNT:
                raise RuntimeError("the service did not archive every file")
            return wall, cpu() - started

        settings = settings_from_mapping(mapping)
        with (
            quiet_logs(),
            Service(settings) as service,
            stderr_to_devnull(),  # the children's logs, as quiet_logs does ours
            SweepProcesses(settings.model_copy(update={"processes": PROCESSES})) as children,
        ):
            drop()
            service.poll_once()  # warm-up: connections open, code paths warm
            drop()
            children.poll_once()
            one, several, floor_times = [], [], []
            with bare_connections(sshd, [str(d) for d in dirs]) as clients:
                for _ in range(rounds):
                    one.append(measured(service.poll_once, time.process_time))
                    several.append(
                        measured(children.poll_once, partial(processes_cpu, children.pids))
                    )
                    batches = drop()
                    work = list(zip(clients, dirs, batches, strict=True))
                    floor_times.append(timed_cpu(partial(in_pool, WORKERS, _get_rename, work)))
            emails, calls = peers.received()
    best_floor, floor_cpu = min(floor_times)
    (best, cpu), (best_one, one_cpu) = min(several), min(one)
    ratio = best / best_floor
    files = ACCOUNTS * FILES_PER_ACCOUNT
    emit(
        f"e2e: {files} files / {ACCOUNTS} accounts, {WORKERS} workers, best of {rounds}: "
        f"service ({PROCESSES} processes) {best:.3f} s ({files / best:.0f} files/s; "
        f"{emails} emails, {calls} calls in all) vs "
        f"bare paramiko get+rename {best_floor:.3f} s = {ratio:.1f}x "
        f"(target <= {TARGET:g}x) {'OK' if ratio <= TARGET else 'MISSED'}; "
        f"in one process {best_one:.3f} s = {best_one / best_floor:.1f}x; "
        # Where the time goes: the floor and one service process are bound by one
        # process's interpreter lock.
        f"CPU a file: service {cpu / files * 1000:.1f} ms ({PROCESSES} processes), "
        f"{one_cpu / files * 1000:.1f} ms (one), floor {floor_cpu / files * 1000:.1f} ms"
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
