"""A real Dovecot IMAP server on 127.0.0.1 for the mailbox tests (``dovecot``, ``mailbox``).

The server runs in the foreground (``dovecot -F``) from a temporary directory holding its
configuration, a certificate from the test CA (tests/servers/tls.py), a passwd-file of users
and their maildirs. ``ssl = required``: the plain port answers STARTTLS, the other is
implicit TLS. Tests that need it are marked ``@pytest.mark.dovecot``; without
/usr/sbin/dovecot they skip, unless ``SFTP_WATCHER_REQUIRE_SERVICES=1`` (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import grp
import itertools
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

from sftp_watcher.mailbox.settings import ImapConfig
from tests.servers.greeting import wait_for_greeting
from tests.servers.sshd import _descendants, unavailable
from tests.servers.tls import TlsCertificates, make_certificates

DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
CLIENT_TIMEOUT_SECONDS = 10.0

USERS = 500
_user_numbers = itertools.count()


def find_dovecot() -> str | None:
    """``SFTP_WATCHER_DOVECOT`` names another binary (or, pointing nowhere, hides Dovecot)."""
    override = os.environ.get("SFTP_WATCHER_DOVECOT")
    if override:
        return os.path.abspath(override) if os.access(override, os.X_OK) else None
    for candidate in DOVECOT_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("dovecot")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mail_owner() -> tuple[str, int, int]:
    """Dovecot refuses uid 0 for mail: as root the mail belongs to the package's ``dovecot``
    user (its login processes run as ``dovenull``); otherwise everything runs as us."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return entry.pw_name, entry.pw_uid, entry.pw_gid
    entry = pwd.getpwnam("dovecot")
    return "dovecot", entry.pw_uid, entry.pw_gid


@dataclass(frozen=True)
class MailUser:
    """One mailbox on the server; ``client()`` logs in over STARTTLS."""

    server: DovecotServer
    name: str
    password: str

    def client(self) -> IMAPClient:
        return self.server.client(self.name, self.password)

    def append(self, message: bytes, folder: str = "INBOX") -> int:
        """Deliver ``message`` by IMAP APPEND; returns its UID (UIDPLUS's APPENDUID)."""
        with contextlib.closing(_Session(self)) as session:
            answer = session.imap.append(folder, message)
        return int(answer.split(b"]")[0].split()[-1])

    def folders(self) -> set[str]:
        with contextlib.closing(_Session(self)) as session:
            return {str(name) for _flags, _sep, name in session.imap.list_folders()}

    def uids(self, folder: str = "INBOX") -> list[int]:
        with contextlib.closing(_Session(self)) as session:
            if folder not in {str(n) for _f, _s, n in session.imap.list_folders()}:
                return []
            session.imap.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in session.imap.search("ALL"))

    def fetch(self, folder: str = "INBOX") -> dict[int, bytes]:
        """Every message of ``folder`` by UID, without marking it seen."""
        with contextlib.closing(_Session(self)) as session:
            session.imap.select_folder(folder, readonly=True)
            found = session.imap.fetch("1:*", ["BODY.PEEK[]"]) if session.count else {}
            return {int(uid): bytes(data[b"BODY[]"]) for uid, data in found.items()}

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with contextlib.closing(_Session(self)) as session:
            status = session.imap.folder_status(folder, [b"UIDVALIDITY"])
            return int(status[b"UIDVALIDITY"])

    def change_uidvalidity(self, value: int, folder: str = "INBOX") -> None:
        """What a restored or rebuilt mailbox does: same messages, new UIDVALIDITY."""
        self.server.doveadm(
            "mailbox", "update", "-u", self.name, "--uid-validity", str(value), folder
        )


class _Session:
    def __init__(self, user: MailUser) -> None:
        self.imap = user.client()
        self.count = 0
        with contextlib.suppress(Exception):
            self.count = int(self.imap.select_folder("INBOX", readonly=True)[b"EXISTS"])

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.imap.logout()


class DovecotServer:
    """One Dovecot master; ``stop()`` + ``start()`` (or ``restart()``) drops every session."""

    def __init__(self, root: Path, binary: str) -> None:
        root.chmod(0o755)  # the login processes (dovenull) traverse it to reach base_dir
        self.root = root
        self.binary = binary
        self.port = _free_port()  # STARTTLS
        self.tls_port = _free_port()  # implicit TLS
        self.tls: TlsCertificates = make_certificates(root / "tls", "Dovecot test CA")
        self.log_path = root / "dovecot.log"
        # Every user exists from the start: Dovecot notices a passwd-file's change by its
        # mtime, which a user added within the same second would not move.
        self.passwd = root / "passwd"
        self._users = [(f"user{n}", secrets.token_urlsafe(12)) for n in range(1, USERS + 1)]
        self.passwd.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self._users))
        self.mail_dir = root / "mail"
        self.mail_dir.mkdir()
        owner, uid, gid = _mail_owner()
        self._uid, self._gid = uid, gid
        os.chown(self.mail_dir, uid, gid)
        self.config = root / "dovecot.conf"
        self.config.write_text(self._config_text(owner))
        self._process: subprocess.Popen[bytes] | None = None

    def _config_text(self, owner: str) -> str:
        root = self.root
        as_root = os.geteuid() == 0
        return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {self.log_path}
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{self.tls.cert_file}
ssl_key = <{self.tls.key_file}
default_internal_user = {"dovecot" if as_root else owner}
default_internal_group = {grp.getgrgid(self._gid).gr_name}
default_login_user = {"dovenull" if as_root else owner}
first_valid_uid = 1
mail_location = maildir:{self.mail_dir}/%u
auth_mechanisms = plain login
# IDLE learns of new mail by inotify, or by looking this often where inotify is
# unavailable (a busy machine runs out of inotify instances).
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.passwd}
  default_fields = uid={self._uid} gid={self._gid} home={self.mail_dir}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
"""

    def add_user(self) -> MailUser:
        """The next unused user of the passwd-file (its maildir is created at first login)."""
        name, password = self._users[next(_user_numbers) % USERS]
        return MailUser(self, name, password)

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.tls.ca_file))

    def client(self, user: str, password: str) -> IMAPClient:
        imap = IMAPClient("127.0.0.1", self.port, ssl=False, timeout=CLIENT_TIMEOUT_SECONDS)
        imap.starttls(self.client_context())
        imap.login(user, password)
        return imap

    def doveadm(self, *args: str) -> str:
        done = subprocess.run(
            ["doveadm", "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {done.stderr}")
        return done.stdout

    def start(self) -> None:
        if self.running:
            raise RuntimeError("dovecot is already running; stop() it first")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        self._wait_for_greeting()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM the master (it ends every session); idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        # Sessions end with the master (shutdown_clients), but not always before it has
        # gone: whatever is left is killed, as a crashed server's sessions would be.
        sessions = _descendants(process.pid)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # The master removes its pid file last; a start before that refuses to run.
        deadline = time.monotonic() + 10
        while (self.root / "run" / "master.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _wait_for_greeting(self) -> None:
        wait_for_greeting(
            self.port, b"* OK", self._process, label="dovecot", log=self.log, give_up=self.stop
        )


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A running Dovecot for the whole test session."""
    binary = find_dovecot()
    if binary is None:
        unavailable("Dovecot is not installed (Debian: dovecot-imapd)")
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="sftp-watcher-dovecot-") as tmp:
        server = DovecotServer(Path(tmp), binary)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def mailbox(dovecot: DovecotServer) -> Iterator[MailUser]:
    """A fresh user (its own empty INBOX) on the shared Dovecot, started if a test stopped it."""
    if not dovecot.running:
        dovecot.start()
    yield dovecot.add_user()
    if not dovecot.running:
        dovecot.start()


def imap_config(user: MailUser, **overrides: object) -> ImapConfig:
    """The channel's ``imap`` section for ``user``: STARTTLS, the test CA trusted."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": user.server.port,
        "security": "starttls",
        "username": user.name,
        "password": user.password,
        "ca_file": str(user.server.tls.ca_file),
        "timeout_seconds": 10,
    }
    values.update(overrides)
    return ImapConfig.model_validate(values)
