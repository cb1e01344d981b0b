"""ProFTPD with ``mod_sftp`` on 127.0.0.1 (fixture ``proftpd_sftp``).

The server runs in the foreground (``proftpd -n``) from a temporary configuration that
loads ``mod_sftp`` itself, with an ecdsa host key, the test client's key (RFC 4716, as
``SFTPAuthorizedUserKeys`` reads it) and ``DefaultRoot`` on the served folder. Without
proftpd and mod_sftp the tests skip, unless ``SFTP_WATCHER_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import getpass
import grp
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.servers.sftp_process import SftpProcess
from tests.servers.sshd import unavailable

MODULE_DIR = Path("/usr/lib/proftpd")


class ProftpdSftp(SftpProcess):
    label = "proftpd mod_sftp"
    key_kind = "ecdsa"  # mod_sftp reads PEM host keys; ecdsa is offered by every build

    def prepare(self) -> None:
        keys = self.root / "authorized_keys.rfc4716"
        exported = subprocess.run(
            ["ssh-keygen", "-e", "-f", str(self.client_key_path.with_suffix(".pub"))],
            check=True,
            capture_output=True,
            text=True,
        )
        keys.write_text(exported.stdout)
        user = getpass.getuser()
        group = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
        root_login = "RootLogin on" if os.geteuid() == 0 else ""
        (self.root / "proftpd.conf").write_text(
            "\n".join(
                [
                    f"ModulePath {MODULE_DIR}",
                    "<IfModule mod_dso.c>",
                    "  LoadModule mod_sftp.c",
                    "</IfModule>",
                    'ServerName "sftp-watcher test"',
                    "ServerType standalone",
                    "DefaultServer on",
                    f"Port {self.port}",
                    "DefaultAddress 127.0.0.1",
                    "SocketBindTight on",
                    "UseIPv6 off",
                    "UseReverseDNS off",
                    f"User {user}",
                    f"Group {group}",
                    root_login,
                    "RequireValidShell off",
                    "UseFtpUsers off",
                    "AuthOrder mod_auth_unix.c",
                    "WtmpLog off",
                    "<IfModule mod_delay.c>",
                    "  DelayEngine off",
                    "</IfModule>",
                    f"PidFile {self.root / 'proftpd.pid'}",
                    f"ScoreboardFile {self.root / 'proftpd.scoreboard'}",
                    f"SystemLog {self.root / 'system.log'}",
                    "TransferLog none",
                    "MaxInstances 100",
                    "Umask 022",
                    "AllowOverwrite on",
                    f"DefaultRoot {self.files}",
                    "SFTPEngine on",
                    f"SFTPLog {self.root / 'sftp.log'}",
                    f"SFTPHostKey {self.host_key_path}",
                    f"SFTPAuthorizedUserKeys file:{keys}",
                    "SFTPAuthMethods publickey",
                    "SFTPCompression off",
                    "",
                ]
            )
        )

    def command(self) -> Sequence[str]:
        return [self.binary, "-n", "-q", "-c", str(self.root / "proftpd.conf")]

    def log(self) -> str:
        parts = [super().log()]
        for name in ("system.log", "sftp.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


def find_proftpd() -> str | None:
    binary = shutil.which("proftpd") or (
        "/usr/sbin/proftpd" if os.access("/usr/sbin/proftpd", os.X_OK) else None
    )
    if binary is None or not (MODULE_DIR / "mod_sftp.so").exists():
        return None
    return binary


@pytest.fixture(scope="session")
def proftpd_sftp() -> Iterator[ProftpdSftp]:
    """A running ProFTPD with mod_sftp for the whole test session."""
    binary = find_proftpd()
    if binary is None or shutil.which("ssh-keygen") is None:
        unavailable("proftpd with mod_sftp (or ssh-keygen) is not installed")
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="sftp-watcher-proftpd-") as tmp:
        server = ProftpdSftp(Path(tmp), binary)
        server.start()
        try:
            yield server
        finally:
            server.stop()
