"""An sshd that takes passwords, and a throw-away system user to log in with.

sshd checks a password against the system's user database, so a real password login
needs a real user: the fixture creates one (root only, as in CI) with a random name and
password, and removes it afterwards. Its account folders are its own, under a
directory every user can traverse.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.sshd import SshdServer, find_sshd, unavailable


@dataclass(frozen=True)
class PasswordLogin:
    server: SshdServer
    username: str
    password: str

    def own(self, account_dir: Path) -> None:
        """Hand an account's folders (made by root) to the user, who logs in as itself."""
        for path in (account_dir, *account_dir.iterdir()):
            shutil.chown(path, self.username)


@pytest.fixture(scope="session")
def password_login() -> Iterator[PasswordLogin]:
    sshd_path = find_sshd()
    if sshd_path is None:
        unavailable("OpenSSH sshd is not installed")
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("creating a system user for a password login needs root and useradd")
    assert sshd_path is not None
    username = f"swtest{secrets.token_hex(3)}"
    password = f"Pw-{secrets.token_urlsafe(12)}"
    subprocess.run(
        [
            "useradd",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            username,
        ],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            ["chpasswd"],
            input=f"{username}:{password}\n",
            text=True,
            check=True,
            capture_output=True,
        )
        root = Path(tempfile.mkdtemp(prefix="sftp-watcher-password-sshd-"))
        root.chmod(0o755)  # the user must reach its folders below
        server = SshdServer(root, sshd_path)
        server.start(["PasswordAuthentication yes"])
        try:
            (root / "accounts").mkdir(mode=0o755, exist_ok=True)
            yield PasswordLogin(server, username, password)
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)
    finally:
        subprocess.run(["userdel", username], check=False, capture_output=True)
