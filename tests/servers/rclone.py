"""rclone ``serve sftp`` on 127.0.0.1 (fixture ``rclone_sftp``).

rclone serves a local folder through its virtual file system. Unlike OpenSSH, a plain
SFTP rename onto an existing name replaces the target there (SPEC 3): the service must
never rely on a failed rename to protect a name. Without ``rclone`` the tests skip,
unless ``SFTP_WATCHER_REQUIRE_SERVICES=1`` (CI), where they fail.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.servers.sftp_process import SftpProcess
from tests.servers.sshd import unavailable


class RcloneSftp(SftpProcess):
    label = "rclone serve sftp"

    def prepare(self) -> None:
        (self.root / "authorized_keys").write_text(self.client_key_line + "\n")
        (self.root / "rclone.conf").write_text("")

    def command(self) -> Sequence[str]:
        return [
            self.binary,
            "serve",
            "sftp",
            str(self.files),
            "--config",
            str(self.root / "rclone.conf"),
            "--addr",
            f"127.0.0.1:{self.port}",
            "--key",
            str(self.host_key_path),
            "--authorized-keys",
            str(self.root / "authorized_keys"),
            # Tests write the folders directly: a cached listing would hide their files.
            "--dir-cache-time",
            "0s",
            "--log-level",
            "INFO",
        ]


@pytest.fixture(scope="session")
def rclone_sftp() -> Iterator[RcloneSftp]:
    """A running ``rclone serve sftp`` for the whole test session."""
    binary = shutil.which("rclone")
    if binary is None or shutil.which("ssh-keygen") is None:
        unavailable("rclone (or ssh-keygen) is not installed")
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="sftp-watcher-rclone-") as tmp:
        server = RcloneSftp(Path(tmp), binary)
        server.start()
        try:
            yield server
        finally:
            server.stop()
