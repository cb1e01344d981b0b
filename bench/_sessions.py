"""What one open SFTP session costs, on `rclone serve sftp` and on OpenSSH sshd.

The figures behind the choice between keeping every account's session open (paramiko
runs a thread per transport), a capped pool that reconnects, or a mix: the wall and CPU
time of connect + key auth + SFTP channel + one listing, and the client's and server's
memory and threads per session while they are open.
"""

from __future__ import annotations

import getpass
import os
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko

from bench._rclone import rclone_server
from bench._servers import sshd_server
from tests.servers.sshd import _descendants


def _servers() -> Iterator[tuple[str, int, str, Path, str, int]]:
    """(name, port, username, client key, folder to list, server pid) of each server."""
    with rclone_server() as rclone:
        rclone.add_account("a")
        yield (
            "rclone",
            rclone.port,
            "bench",
            rclone.client_key_path,
            "/a/Upload",
            rclone.process.pid,
        )
    with sshd_server() as sshd:
        account = sshd.add_account("a")
        pid = int((sshd.root / "sshd.pid").read_text())
        yield "sshd", sshd.port, getpass.getuser(), sshd.client_key_path, str(account), pid


def _cpu_with_children(pids: list[int]) -> float:
    """CPU seconds of ``pids``, their exited children (reaped) included."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def _pss_mb(pids: list[int]) -> float:
    """Proportional set size of ``pids`` together (shared pages divided among them)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def session_costs(count: int) -> list[str]:
    lines = []
    for name, port, user, key_path, folder, server_pid in _servers():
        key = paramiko.Ed25519Key.from_private_key_file(str(key_path))
        server_before = [server_pid, *_descendants(server_pid)]
        own_pss, server_pss = _pss_mb([os.getpid()]), _pss_mb(server_before)
        server_cpu = _cpu_with_children(server_before)
        threads = threading.active_count()
        walls, transports = [], []
        cpu = time.process_time()
        try:
            for _ in range(count):
                started = time.perf_counter()
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                transport = paramiko.Transport(sock)
                transports.append(transport)
                transport.connect(username=user, pkey=key)
                client = paramiko.SFTPClient.from_transport(transport)
                if client is None:
                    raise RuntimeError(f"{name} refused the sftp subsystem")
                client.listdir(folder)
                walls.append(time.perf_counter() - started)
            client_cpu = (time.process_time() - cpu) / count
            server_now = [server_pid, *_descendants(server_pid)]
            wall = statistics.median(walls) * 1000
            lines.append(
                f"sessions on {name}: connect + auth + listing {wall:.1f} ms wall (median of "
                f"{count}), CPU {client_cpu * 1000:.1f} ms client + "
                f"{(_cpu_with_children(server_now) - server_cpu) / count * 1000:.1f} ms server; "
                f"open: {(_pss_mb([os.getpid()]) - own_pss) * 1024 / count:.0f} kB and "
                f"{(threading.active_count() - threads) / count:.1f} thread client-side, "
                f"{(_pss_mb(server_now) - server_pss) * 1024 / count:.0f} kB and "
                f"{(len(server_now) - len(server_before)) / count:.1f} process server-side"
            )
        finally:
            for transport in transports:
                transport.close()
    return lines
