"""`rclone serve sftp` for the account benchmarks: one Go process, cheap per session.

Every account is a folder under one served root, reached with one client key; the host key
is pinned in the accounts' configuration, as for sshd. The directory cache is kept to a
second, so files the benchmark drops straight on disk are listed at the next sweep.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.servers.sshd import _keygen

START_TIMEOUT_SECONDS = 30.0


class RcloneSftp:
    """``rclone serve sftp <root>/accounts`` on a loopback port, key login only."""

    def __init__(self, root: Path) -> None:
        rclone = shutil.which("rclone")
        if rclone is None:
            raise RuntimeError("bench_accounts needs rclone (Debian package rclone)")
        self.root = root
        self.accounts = root / "accounts"
        self.accounts.mkdir()
        self.host_key_line = _keygen(root / "host_ed25519")
        self.client_key_path = root / "client_ed25519"
        authorized = root / "authorized_keys"
        authorized.write_text(_keygen(self.client_key_path) + "\n")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.log_path = root / "rclone.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                rclone,
                "serve",
                "sftp",
                str(self.accounts),
                "--addr",
                f"127.0.0.1:{self.port}",
                "--key",
                str(root / "host_ed25519"),
                "--authorized-keys",
                str(authorized),
                "--dir-cache-time",
                "1s",
                "--poll-interval",
                "0",
                "--config",
                "/dev/null",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        self._wait_for_banner()

    def add_account(self, name: str) -> Path:
        account = self.accounts / name
        for folder in ("Upload", "Success", "Failure"):
            (account / folder).mkdir(parents=True)
        return account

    def source(self, name: str, sessions: int) -> dict[str, Any]:
        """The account's `source:` block; rclone serves ``accounts/`` as ``/``."""
        return {
            "kind": "sftp",
            "host": "127.0.0.1",
            "port": self.port,
            "username": "bench",
            "private_key": str(self.client_key_path),
            "host_key": self.host_key_line,
            "upload_dir": f"/{name}/Upload",
            "success_dir": f"/{name}/Success",
            "failure_dir": f"/{name}/Failure",
            "connect_timeout_seconds": 30,
            "operation_timeout_seconds": 30,
            "max_sessions_per_host": sessions,
        }

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def _wait_for_banner(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                    if sock.recv(8).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.1)
        self.close()
        raise RuntimeError(f"rclone serve sftp did not start:\n{self.log_path.read_text()}")


@contextmanager
def rclone_server() -> Iterator[RcloneSftp]:
    with tempfile.TemporaryDirectory(prefix="bench-rclone-") as tmp:
        server = RcloneSftp(Path(tmp))
        try:
            yield server
        finally:
            server.close()
