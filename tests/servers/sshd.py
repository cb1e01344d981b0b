"""A real OpenSSH sshd on 127.0.0.1 for the SFTP tests (fixtures ``sshd`` and ``sftp_account``).

The server runs in the foreground (``sshd -D``) from a temporary directory holding its
configuration, host key, authorised client key and log. Tests that need it are marked
``@pytest.mark.sshd``; without /usr/sbin/sshd they skip, unless
``SFTP_WATCHER_REQUIRE_SERVICES=1`` (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import getpass
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sftp_watcher.config import SftpSourceConfig
from tests.servers.greeting import wait_for_greeting

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")

_account_numbers = itertools.count(1)


def find_sshd() -> str | None:
    """sshd must be run by its absolute path (it re-executes itself).

    ``SFTP_WATCHER_SSHD`` names another binary (or, pointing nowhere, hides sshd).
    """
    override = os.environ.get("SFTP_WATCHER_SSHD")
    if override:
        return os.path.abspath(override) if os.access(override, os.X_OK) else None
    for candidate in SSHD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("sshd")
    return os.path.abspath(found) if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keygen(path: Path) -> str:
    """A new ed25519 key pair at ``path``; returns the public key line ``type base64``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    kind, blob = path.with_suffix(".pub").read_text().split()[:2]
    return f"{kind} {blob}"


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (sshd's per-connection children call setsid)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


@dataclass(frozen=True)
class SftpAccount:
    name: str
    dir: Path
    config: SftpSourceConfig

    @property
    def upload(self) -> Path:
        return self.dir / "Upload"

    @property
    def success(self) -> Path:
        return self.dir / "Success"

    @property
    def failure(self) -> Path:
        return self.dir / "Failure"


class SshdServer:
    """One sshd process; ``kill()`` + ``start()`` simulates a crashed server coming back."""

    def __init__(self, root: Path, sshd_path: str) -> None:
        self.root = root
        self.sshd_path = sshd_path
        self.port = _free_port()
        self.log_path = root / "sshd.log"
        host_key = root / "ssh_host_ed25519_key"
        self.host_key_line = _keygen(host_key)
        self.client_key_path = root / "client_ed25519"
        client_line = _keygen(self.client_key_path)
        self.authorized_keys = root / "authorized_keys"
        self.authorized_keys.write_text(client_line + "\n")
        self._host_key_path = host_key
        self._process: subprocess.Popen[bytes] | None = None

    def config_text(self, extra_config: Sequence[str] = ()) -> str:
        """The configuration. sshd keeps the first value of a keyword (and refuses a second
        ``Subsystem sftp``), so an ``extra_config`` line replaces ours for its keyword:
        ``PasswordAuthentication yes``, or ``Subsystem sftp internal-sftp -P ...``."""
        own = [
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self._host_key_path}",
            f"PidFile {self.root / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
            "MaxStartups 100",
            "MaxSessions 100",
        ]
        replaced = {line.split()[0].lower() for line in extra_config if line.strip()}
        kept = [line for line in own if line.split()[0].lower() not in replaced]
        return "\n".join([*kept, *extra_config]) + "\n"

    def start(self, extra_config: Sequence[str] = ()) -> None:
        """Start sshd on ``self.port`` and wait until it greets with an SSH banner."""
        if self.running:
            raise RuntimeError("sshd is already running; stop() or kill() it first")
        # Privilege separation needs this directory; distributions create it at boot.
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        config = self.root / "sshd_config"
        config.write_text(self.config_text(extra_config))
        check = subprocess.run(
            [self.sshd_path, "-t", "-f", str(config)], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise RuntimeError(f"sshd rejects its test configuration: {check.stderr}")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.sshd_path, "-D", "-e", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self._wait_for_banner()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def accepted_logins(self) -> int:
        """How many logins the server has accepted so far (each is a new connection)."""
        return self.log().count("Accepted publickey for ")

    def stop(self) -> None:
        """SIGTERM the server and every session it serves; idempotent."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the server and every session (open connections break)."""
        self._signal(signal.SIGKILL)

    def freeze(self) -> None:
        """SIGSTOP the server and its sessions: connections stay open but nothing answers."""
        self._signal_tree(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_tree(signal.SIGCONT)

    def restart(self, extra_config: Sequence[str] = ()) -> None:
        self.stop()
        self.start(extra_config)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def add_account(self, name: str) -> Path:
        """``<root>/<name>/{Upload,Success,Failure}``; returns the account directory."""
        account = self.root / "accounts" / name
        for folder in ("Upload", "Success", "Failure"):
            (account / folder).mkdir(parents=True)
        return account

    def source_config(self, name: str, **overrides: Any) -> SftpSourceConfig:
        """Configuration of the account ``name``: pinned host key, key login as this user."""
        account = self.root / "accounts" / name
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": getpass.getuser(),
            "private_key": self.client_key_path,
            "host_key": self.host_key_line,
            "upload_dir": str(account / "Upload"),
            "success_dir": str(account / "Success"),
            "failure_dir": str(account / "Failure"),
            "connect_timeout_seconds": 10,
            "operation_timeout_seconds": 10,
        }
        values.update(overrides)
        return SftpSourceConfig.model_validate(values)

    def _signal(self, signum: int) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        self._signal_tree(signum, process)
        if signum != signal.SIGKILL:
            self._signal_tree(signal.SIGCONT, process)  # a frozen server must see the SIGTERM
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _signal_tree(self, signum: int, process: subprocess.Popen[bytes] | None = None) -> None:
        process = process or self._process
        if process is None:
            return
        for pid in [*_descendants(process.pid), process.pid]:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signum)

    def _wait_for_banner(self) -> None:
        wait_for_greeting(
            self.port, b"SSH-", self._process, label="sshd", log=self.log, give_up=self.kill
        )


def unavailable(reason: str) -> None:
    """Skip, or fail where CI promises the servers (SFTP_WATCHER_REQUIRE_SERVICES=1)."""
    if os.environ.get("SFTP_WATCHER_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (SFTP_WATCHER_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshdServer]:
    """A running OpenSSH server for the whole test session."""
    sshd_path = find_sshd()
    if sshd_path is None:
        unavailable("OpenSSH sshd is not installed")
    if shutil.which("ssh-keygen") is None:
        unavailable("ssh-keygen is not installed")
    assert sshd_path is not None
    with tempfile.TemporaryDirectory(prefix="sftp-watcher-sshd-") as tmp:
        server = SshdServer(Path(tmp), sshd_path)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def sftp_account(sshd: SshdServer) -> SftpAccount:
    """A fresh account (its own Upload/Success/Failure) on the shared sshd."""
    name = f"acct{next(_account_numbers)}"
    account_dir = sshd.add_account(name)
    return SftpAccount(name=name, dir=account_dir, config=sshd.source_config(name))
