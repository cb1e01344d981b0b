"""SFTP source over paramiko: one customer's three folders on an SFTP server.

Connecting is a chain of small steps, each callable on its own so that setup-test can
say which one failed: ``connect_socket`` (DNS, refused, timeout), ``start_transport``
(is it SSH at all), ``verify_host_key`` (pinned or known_hosts), ``authenticate``
(key or password) and ``open_sftp``. ``connect`` runs them in order. Only plain SFTPv3
operations are used, so behaviour is the same on every server.
"""

from __future__ import annotations

import errno
import posixpath
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import paramiko
from paramiko.ssh_exception import IncompatiblePeer

from sftp_watcher.config import SftpSourceConfig
from sftp_watcher.errors import (
    AuthenticationFailed,
    ConnectFailed,
    FileRejected,
    RemoteFileNotFound,
    RemoteOperationFailed,
    SourceUnavailable,
)
from sftp_watcher.sources.base import Entry, EntryKind, Folder, Source, describe_mode
from sftp_watcher.sources.hostkeys import (
    load_private_key,
    preferred_key_types,
    verify_host_key,
)

__all__ = [
    "SESSION_LIMITER",
    "SessionLimiter",
    "SftpSource",
    "authenticate",
    "connect",
    "connect_socket",
    "load_private_key",
    "open_sftp",
    "start_transport",
    "verify_host_key",
]

# Without traffic, NAT gateways and firewalls forget idle connections after minutes.
KEEPALIVE_SECONDS = 30
_READER_POLL_SECONDS = 1.0

# Failures of the link itself (as opposed to an answer from the server): the
# connection is unusable afterwards and the next open() must start a new one.
_LINK_ERRORS = (TimeoutError, ConnectionError, EOFError, paramiko.SSHException)


class SessionLimiter:
    """Caps the SSH sessions open at once to each server (``max_sessions_per_host``).

    Servers (OpenSSH's MaxStartups, hosted SFTP services) drop connections beyond
    their own limit; several customers often share one server. The first
    configuration seen for a host decides its cap.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}

    def slot(self, host: str, port: int, limit: int) -> threading.BoundedSemaphore:
        with self._lock:
            return self._slots.setdefault((host.lower(), port), threading.BoundedSemaphore(limit))


SESSION_LIMITER = SessionLimiter()


def connect_socket(config: SftpSourceConfig, *, customer: str) -> socket.socket:
    """Resolve the host and open a TCP connection to it (``ConnectFailed`` says why not)."""
    where = f"{config.host}:{config.port}"
    try:
        addresses = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectFailed(
            f"cannot resolve host {config.host!r}: {exc.strerror}", reason="dns", customer=customer
        ) from exc
    failure: OSError | None = None
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(config.connect_timeout_seconds)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    if isinstance(failure, TimeoutError):
        reason, text = "timeout", f"no answer within {config.connect_timeout_seconds:g} s"
    elif isinstance(failure, ConnectionRefusedError):
        reason, text = "refused", "connection refused (nothing listens on that port)"
    else:
        reason, text = "unreachable", (failure.strerror if failure else None) or "unreachable"
    raise ConnectFailed(
        f"cannot connect to {where}: {text}", reason=reason, customer=customer
    ) from failure


def start_transport(
    sock: socket.socket, config: SftpSourceConfig, *, customer: str
) -> paramiko.Transport:
    """Run the SSH handshake on a connected socket. The host key is NOT checked yet."""
    timeout = config.connect_timeout_seconds
    transport = paramiko.Transport(sock)
    # paramiko sets the socket's timeout to 0.1 s so that its reader thread wakes to see
    # whether the transport was closed: 10 wake-ups a second for every kept connection.
    # close() does not wait for that thread, so a longer one only lets it linger a moment.
    sock.settimeout(_READER_POLL_SECONDS)
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    transport.auth_timeout = timeout
    options = transport.get_security_options()
    options.key_types = preferred_key_types(config, options.key_types)
    where = f"{config.host}:{config.port}"
    try:
        transport.start_client(timeout=timeout)
        # start_client returns quietly when its timeout passes; this raises then.
        transport.get_remote_server_key()
    except (paramiko.SSHException, EOFError, OSError) as exc:
        transport.close()
        if isinstance(exc, IncompatiblePeer):
            reason, text = "handshake", "no SSH algorithms in common with the server"
        else:
            reason, text = "not_ssh", "did not answer as an SSH server within the time limit"
        raise ConnectFailed(f"{where} {text} ({exc})", reason=reason, customer=customer) from exc
    transport.set_keepalive(KEEPALIVE_SECONDS)
    return transport


def authenticate(transport: paramiko.Transport, config: SftpSourceConfig, *, customer: str) -> None:
    """Log in with the private key, then the password (either alone, or both if asked)."""
    attempts: list[tuple[str, Callable[[], list[str]]]] = []
    if config.private_key is not None:
        key = load_private_key(config.private_key, config.private_key_passphrase, customer=customer)
        attempts.append(
            (f"key {config.private_key}", lambda: transport.auth_publickey(config.username, key))
        )
    if config.password is not None:
        password = config.password.get_secret_value()
        attempts.append(("password", lambda: transport.auth_password(config.username, password)))
    refused: list[str] = []
    failure: paramiko.AuthenticationException | None = None
    for method, attempt in attempts:
        try:
            attempt()
        except paramiko.BadAuthenticationType as exc:
            refused.append(f"{method} (server accepts only {', '.join(exc.allowed_types)})")
            failure = exc
        except paramiko.AuthenticationException as exc:
            refused.append(method)
            failure = exc
        except _LINK_ERRORS as exc:
            raise SourceUnavailable(
                f"connection to {config.host}:{config.port} lost while logging in",
                customer=customer,
            ) from exc
        if transport.is_authenticated():
            return
    where = f"{config.host}:{config.port}"
    problem = (
        f"{where} refused user {config.username!r}: tried {', '.join(refused)}"
        if refused
        else f"{where} wants more than our key and password for {config.username!r}"
    )
    raise AuthenticationFailed(problem, customer=customer) from failure


def open_sftp(
    transport: paramiko.Transport, config: SftpSourceConfig, *, customer: str
) -> paramiko.SFTPClient:
    """Start the sftp subsystem on an authenticated transport."""
    try:
        channel = transport.open_session(timeout=config.connect_timeout_seconds)
        channel.settimeout(config.operation_timeout_seconds)
        channel.invoke_subsystem("sftp")
        return paramiko.SFTPClient(channel)
    except (*_LINK_ERRORS, OSError) as exc:
        if transport.is_active():
            raise RemoteOperationFailed(
                f"{config.host}:{config.port} refused the sftp subsystem for {config.username!r}",
                customer=customer,
            ) from exc
        raise SourceUnavailable(
            f"connection to {config.host}:{config.port} lost while starting sftp", customer=customer
        ) from exc


def connect(
    config: SftpSourceConfig, *, customer: str
) -> tuple[paramiko.Transport, paramiko.SFTPClient]:
    """All steps in order; closes whatever it opened if one fails."""
    sock = connect_socket(config, customer=customer)
    try:
        transport = start_transport(sock, config, customer=customer)
    except BaseException:
        sock.close()
        raise
    try:
        verify_host_key(transport.get_remote_server_key(), config, customer=customer)
        authenticate(transport, config, customer=customer)
        return transport, open_sftp(transport, config, customer=customer)
    except BaseException:
        transport.close()
        raise


class SftpSource(Source):
    """One customer's folders on an SFTP server, over one reused SSH connection."""

    def __init__(
        self,
        customer_id: str,
        config: SftpSourceConfig,
        *,
        limiter: SessionLimiter = SESSION_LIMITER,
    ) -> None:
        self.customer_id = customer_id
        self._config = config
        self._limiter = limiter
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._slot: threading.BoundedSemaphore | None = None

    def __repr__(self) -> str:
        c = self._config
        return (
            f"SftpSource(customer={self.customer_id!r}, server='{c.username}@{c.host}:{c.port}', "
            f"connected={self.connected})"
        )

    @property
    def connected(self) -> bool:
        return (
            self._sftp is not None and self._transport is not None and self._transport.is_active()
        )

    def open(self) -> None:
        if self.connected:
            return
        self.close()  # a dropped connection: release it before making a new one
        c = self._config
        slot = self._limiter.slot(c.host, c.port, c.max_sessions_per_host)
        if not slot.acquire(timeout=c.connect_timeout_seconds):
            raise SourceUnavailable(
                f"{c.max_sessions_per_host} session(s) to {c.host}:{c.port} already open "
                "(max_sessions_per_host); try again later",
                customer=self.customer_id,
            )
        self._slot = slot
        try:
            self._transport, self._sftp = connect(c, customer=self.customer_id)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        sftp, transport, slot = self._sftp, self._transport, self._slot
        self._sftp = self._transport = self._slot = None
        if sftp is not None:
            with suppress(*_LINK_ERRORS, OSError):  # already broken: nothing to tell the server
                sftp.close()
        if transport is not None:
            transport.close()
        if slot is not None:
            slot.release()

    def list(self, folder: Folder) -> list[Entry]:
        path = self._dir(folder)
        with self._operation("list", path) as sftp:
            attrs = sftp.listdir_attr(path)
        return [_entry(a.filename, a) for a in attrs]

    def stat(self, folder: Folder, name: str) -> Entry:
        path = self._path(folder, name)
        with self._operation("stat", path) as sftp:
            return _entry(name, self._lstat(sftp, path))

    @staticmethod
    def _lstat(sftp: paramiko.SFTPClient, path: str) -> paramiko.SFTPAttributes:
        try:
            # lstat: a symbolic link is reported as one, as list() does.
            return sftp.lstat(path)
        except OSError as exc:
            if exc.errno is not None:
                raise
            # Some servers lack LSTAT; STAT follows links, but answers.
            return sftp.stat(path)

    def read(self, folder: Folder, name: str, max_bytes: int, *, size: int | None = None) -> bytes:
        path = self._path(folder, name)
        with self._operation("read", path) as sftp:
            # SFTPv3 has no O_NOFOLLOW, and a server opening a FIFO waits for a writer:
            # what is not a regular file is refused before it is opened.
            listed = self._lstat(sftp, path)
            _check_regular(name, listed)
            handle = sftp.open(path, "rb")
        with self._operation("read", path), handle:
            # The open handle's own attributes: a link or folder swapped in under the name
            # since the lstat shows as another type, or another size or time.
            opened = handle.stat()
            _check_regular(name, opened)
            if (opened.st_size, opened.st_mtime) != (listed.st_size, listed.st_mtime):
                raise FileRejected(f"{name} was replaced while it was being opened", file=name)
            size = opened.st_size or 0
            if size > max_bytes:
                raise FileRejected(
                    f"{name} is {size} bytes, larger than the limit of {max_bytes} bytes",
                    file=name,
                )
            if size > handle.MAX_REQUEST_SIZE:
                handle.prefetch(size)  # larger files are read ahead
            # One byte more than allowed tells a file that grew since stat from one at the limit.
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise FileRejected(f"{name} is larger than the limit of {max_bytes} bytes", file=name)
        return data

    def rename(self, folder: Folder, name: str, to_folder: Folder, to_name: str) -> None:
        source, target = self._path(folder, name), self._path(to_folder, to_name)
        try:
            with self._operation("rename", f"{source} -> {target}") as sftp:
                sftp.rename(source, target)  # plain SFTPv3: posix-rename is missing on some
        except RemoteOperationFailed as exc:
            # ProFTPD checks the target first: a missing source onto a taken name answers
            # "File already exists". A missing source is "no such file" on every server.
            if not self.exists(folder, name):
                raise RemoteFileNotFound(
                    f"rename {source}: no such file", customer=self.customer_id, path=source
                ) from exc
            raise

    def write(self, folder: Folder, name: str, data: bytes) -> None:
        path = self._path(folder, name)
        with self._operation("write", path) as sftp, sftp.open(path, "wb") as handle:
            handle.set_pipelined(True)
            handle.write(data)
        # Closing the handle waits for the server to acknowledge every write.

    def remove(self, folder: Folder, name: str) -> None:
        path = self._path(folder, name)
        with self._operation("remove", path) as sftp:
            sftp.remove(path)

    def _dir(self, folder: Folder) -> str:
        c = self._config
        # A relative folder is resolved by the server against the login directory.
        dirs = {Folder.UPLOAD: c.upload_dir, Folder.SUCCESS: c.success_dir}
        return dirs.get(folder, c.failure_dir)

    def _path(self, folder: Folder, name: str) -> str:
        if not name or "/" in name or name in {".", ".."}:
            raise ValueError(f"not a plain file name: {name!r}")
        return posixpath.join(self._dir(folder), name)

    @contextmanager
    def _operation(self, what: str, path: str) -> Iterator[paramiko.SFTPClient]:
        """Run one SFTP call, translating paramiko's errors into the project's."""
        sftp = self._sftp
        where = f"{self._config.host}:{self._config.port}"
        if sftp is None or not self.connected:
            self.close()
            raise SourceUnavailable(
                f"{what} {path}: not connected to {where}", customer=self.customer_id, path=path
            )
        try:
            yield sftp
        except _LINK_ERRORS as exc:
            self.close()
            raise SourceUnavailable(
                f"{what} {path}: connection to {where} lost ({type(exc).__name__})",
                customer=self.customer_id,
                path=path,
            ) from exc
        except (OSError, paramiko.SFTPError) as exc:
            raise self._answer_error(what, path, exc) from exc

    def _answer_error(self, what: str, path: str, exc: Exception) -> Exception:
        """The server answered with an error, or the link died and paramiko said so vaguely."""
        number = exc.errno if isinstance(exc, OSError) else None
        text = (
            (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
        )
        if number == errno.ENOENT or (number is None and "no such file" in text.lower()):
            return RemoteFileNotFound(
                f"{what} {path}: no such file", customer=self.customer_id, path=path
            )
        if self._transport is None or not self._transport.is_active():
            self.close()
            return SourceUnavailable(
                f"{what} {path}: connection to {self._config.host} lost",
                customer=self.customer_id,
                path=path,
            )
        return RemoteOperationFailed(
            f"{what} {path}: the server answered {text!r}", customer=self.customer_id, path=path
        )


def _check_regular(name: str, attrs: paramiko.SFTPAttributes) -> None:
    if attrs.st_mode is not None and not stat.S_ISREG(attrs.st_mode):
        raise FileRejected(
            f"{name} is {describe_mode(attrs.st_mode)}, not a regular file", file=name
        )


def _entry(name: str, attrs: paramiko.SFTPAttributes) -> Entry:
    mode = attrs.st_mode
    kind: EntryKind = "other"
    if mode is not None:
        if stat.S_ISLNK(mode):
            kind = "link"
        elif stat.S_ISREG(mode):
            kind = "file"
        elif stat.S_ISDIR(mode):
            kind = "dir"
    return Entry(name=name, size=attrs.st_size or 0, mtime=float(attrs.st_mtime or 0), kind=kind)
