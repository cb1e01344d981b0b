"""A third-party SFTP server run as one process on 127.0.0.1 (base of rclone.py, proftpd.py).

Each server serves the directory ``<root>/files``; accounts live at
``/accounts/<name>/{Upload,Success,Failure}`` in the served tree. The server has its own
host key (the service pins it) and lets a test client key in.
"""

from __future__ import annotations

import getpass
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from sftp_watcher.config import SftpSourceConfig
from tests.servers.greeting import wait_for_greeting
from tests.servers.sshd import SftpAccount, _free_port


class SftpHost(Protocol):
    """What ``Fleet.add`` needs of a server: OpenSSH's ``SshdServer`` or an ``SftpProcess``."""

    def add_account(self, name: str) -> Path: ...

    def source_config(self, name: str, **overrides: Any) -> SftpSourceConfig: ...


def keygen(path: Path, kind: str = "ed25519") -> str:
    """A new key pair at ``path`` (ecdsa keys in PEM, which every server reads);
    returns the public key line ``type base64``."""
    extra = ["-b", "256", "-m", "PEM"] if kind == "ecdsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", "", "-f", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    key_type, blob = path.with_suffix(".pub").read_text().split()[:2]
    return f"{key_type} {blob}"


class SftpProcess:
    """Subclasses write their configuration in ``prepare`` and name the ``command``."""

    label = "sftp server"
    key_kind = "ed25519"

    def __init__(self, root: Path, binary: str) -> None:
        self.root = root
        self.binary = binary
        self.port = _free_port()
        self.files = root / "files"
        self.files.mkdir()
        self.log_path = root / "server.log"
        self.host_key_path = root / "host_key"
        self.host_key_line = keygen(self.host_key_path, self.key_kind)
        self.client_key_path = root / "client_key"
        self.client_key_line = keygen(self.client_key_path, self.key_kind)
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write the configuration files the command reads."""

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.label} is already running")
        self.prepare()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                list(self.command()), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self._wait_for_banner()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def add_account(self, name: str) -> Path:
        """``/accounts/<name>/{Upload,Success,Failure}``; returns its directory on disk."""
        account = self.files / "accounts" / name
        for folder in ("Upload", "Success", "Failure"):
            (account / folder).mkdir(parents=True)
        return account

    def remote_dir(self, name: str, folder: str) -> str:
        return f"/accounts/{name}/{folder}"

    def source_config(self, name: str, **overrides: Any) -> SftpSourceConfig:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": getpass.getuser(),
            "private_key": self.client_key_path,
            "host_key": self.host_key_line,
            "upload_dir": self.remote_dir(name, "Upload"),
            "success_dir": self.remote_dir(name, "Success"),
            "failure_dir": self.remote_dir(name, "Failure"),
            "connect_timeout_seconds": 10,
            "operation_timeout_seconds": 10,
        }
        values.update(overrides)
        return SftpSourceConfig.model_validate(values)

    def account(self, name: str) -> SftpAccount:
        directory = self.add_account(name)
        return SftpAccount(name=name, dir=directory, config=self.source_config(name))

    def _wait_for_banner(self) -> None:
        wait_for_greeting(
            self.port, b"SSH-", self._process, label=self.label, log=self.log, give_up=self.stop
        )
