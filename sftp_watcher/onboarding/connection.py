"""setup-test's connection checks for an SFTP account, one step at a time: DNS, TCP, SSH,
host key, login, sftp session; each failure says what to fix, later steps are skipped.
"""

from __future__ import annotations

import socket
from contextlib import ExitStack
from dataclasses import dataclass

import paramiko

from sftp_watcher.config import SftpSourceConfig
from sftp_watcher.errors import (
    AuthenticationFailed,
    ConnectFailed,
    HostKeyMismatch,
    RemoteOperationFailed,
    SourceUnavailable,
    UnknownHostKey,
)
from sftp_watcher.onboarding.report import Check, Status
from sftp_watcher.sources.hostkeys import fingerprint, key_line, known_hosts_name
from sftp_watcher.sources.sftp import (
    authenticate,
    connect_socket,
    load_private_key,
    open_sftp,
    start_transport,
    verify_host_key,
)

CONNECTION_CHECKS = ("dns", "tcp", "ssh", "host key", "authentication", "sftp session")

MISMATCH_FIX = (
    "Do not connect; confirm the new key with the customer out of band before changing host_key."
)
UNVERIFIED_FIX = (
    "Confirm the host key's fingerprint with the customer, pin the key line the host key "
    "check shows (source.host_key), then run setup-test again."
)


@dataclass(frozen=True, slots=True)
class Connection:
    """The checks run, and the sftp session when every step passed (else why not)."""

    checks: tuple[Check, ...]
    sftp: paramiko.SFTPClient | None
    server_version: str | None
    unusable_because: str
    fix: str = ""  # for the checks skipped because of it


def check_connection(config: SftpSourceConfig, *, customer: str, stack: ExitStack) -> Connection:
    """Connect step by step; whatever is opened is closed by ``stack``."""
    checks: list[Check] = []

    def stop(reason: str, fix: str = "") -> Connection:
        done = {c.name for c in checks}
        skipped = [Check.skipped(n, reason, fix) for n in CONNECTION_CHECKS if n not in done]
        return Connection((*checks, *skipped), None, None, reason, fix)

    transport, unreachable = _reach(config, customer, stack, checks)
    if transport is None:
        return stop(unreachable)
    host_key, mismatch = _host_key(transport.get_remote_server_key(), config, customer)
    checks.append(host_key)
    if mismatch:
        return stop(
            "HOST KEY MISMATCH: we do not log in to a server that may be an impostor",
            MISMATCH_FIX,
        )
    if host_key.status is Status.FAIL:
        # SPEC 10: an unverified server sees no password and no key (a man in the middle
        # would take the password, or learn which key the account accepts).
        return stop(
            "not logged in: neither the password nor the key is sent to a server whose "
            "host key is not verified",
            UNVERIFIED_FIX,
        )
    login = _authenticate(transport, config, customer)
    checks.append(login)
    if login.status is Status.FAIL:
        return stop("not logged in")
    try:
        sftp = open_sftp(transport, config, customer=customer)
    except (RemoteOperationFailed, SourceUnavailable) as exc:
        checks.append(
            Check.failed(
                "sftp session",
                str(exc),
                "Ask the customer to allow SFTP (the sftp subsystem) for this account.",
            )
        )
        return stop("no sftp session")
    stack.callback(sftp.close)
    checks.append(Check.passed("sftp session", "the sftp subsystem is open"))
    return Connection(tuple(checks), sftp, transport.remote_version, "")


def _reach(
    config: SftpSourceConfig, customer: str, stack: ExitStack, checks: list[Check]
) -> tuple[paramiko.Transport | None, str]:
    """DNS, TCP and the SSH handshake, appending their checks; no transport says why not."""
    dns = _dns(config)
    checks.append(dns)
    if dns.status is Status.FAIL:
        return None, "the host name does not resolve"
    try:
        sock = connect_socket(config, customer=customer)
    except ConnectFailed as exc:
        checks.append(_tcp_failure(config, exc))
        return None, "no TCP connection to the server"
    stack.callback(sock.close)
    checks.append(Check.passed("tcp", f"connected to {config.host}:{config.port}"))
    try:
        transport = start_transport(sock, config, customer=customer)
    except ConnectFailed as exc:
        checks.append(_ssh_failure(config, exc))
        return None, "no SSH session with the server"
    stack.callback(transport.close)
    checks.append(Check.passed("ssh", f"SSH server {transport.remote_version}"))
    return transport, ""


def _dns(config: SftpSourceConfig) -> Check:
    try:
        found = socket.getaddrinfo(config.host, config.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return Check.failed(
            "dns",
            f"DNS lookup failed for {config.host}: {exc.strerror}",
            "Fix the host name (source.host); check it with the customer.",
        )
    addresses = sorted({str(info[4][0]) for info in found})
    return Check.passed("dns", f"{config.host} resolves to {', '.join(addresses)}")


def _tcp_failure(config: SftpSourceConfig, exc: ConnectFailed) -> Check:
    port, host = config.port, config.host
    if exc.reason == "refused":
        return Check.failed(
            "tcp",
            f"nothing listens on port {port} of {host} (connection refused)",
            "Check the port (source.port) and that the SFTP server runs; "
            "a firewall may also refuse us: check the port / firewall.",
        )
    if exc.reason == "timeout":
        return Check.failed(
            "tcp",
            f"no answer from {host}:{port} within {config.connect_timeout_seconds:g} s",
            "A firewall is probably dropping our traffic: ask the customer to allow our "
            "egress IP address to this port (and check host and port).",
        )
    return Check.failed(
        "tcp", str(exc), "Check source.host and the network route from this machine to it."
    )


def _ssh_failure(config: SftpSourceConfig, exc: ConnectFailed) -> Check:
    if exc.reason == "handshake":
        return Check.failed(
            "ssh",
            f"port {config.port} is an SSH server, but it offers no algorithm we accept",
            "Ask the customer to enable current SSH algorithms (ed25519 or ecdsa host keys, "
            "curve25519 key exchange); we refuse outdated ones.",
        )
    return Check.failed(
        "ssh",
        f"port {config.port} of {config.host} answers but is not an SSH server",
        "Check source.port: it must be the SFTP server's SSH port (usually 22), "
        "not an FTP, FTPS or web port.",
    )


def _host_key(
    server_key: paramiko.PKey, config: SftpSourceConfig, customer: str
) -> tuple[Check, bool]:
    """The host key check, and whether it is a mismatch (the one case that stops us)."""
    line = key_line(server_key)
    shown = fingerprint(line)
    try:
        verify_host_key(server_key, config, customer=customer)
    except HostKeyMismatch:
        expected = ", ".join(_expected_fingerprints(config)) or "(unreadable)"
        detail = (
            "HOST KEY MISMATCH — the server's key is not the pinned one; possible "
            f"man-in-the-middle attack. Pinned: {expected}; the server presented: {shown}"
        )
        return Check.failed("host key", detail, MISMATCH_FIX), True
    except UnknownHostKey as exc:
        detail = (
            f"the server's key {shown} ({server_key.get_name()}) is neither pinned "
            "(host_key) nor in known_hosts"
        )
        fix = (
            f"Confirm the fingerprint {shown} with the customer, then add to the customer's "
            f'source: host_key: "{exc.key_line}"'
        )
        return Check.failed("host key", detail, fix), False
    pinned = config.host_key is not None and fingerprint(config.host_key) == shown
    where = "the pinned host_key" if pinned else f"a key in {config.known_hosts}"
    return Check.passed("host key", f"{shown} ({server_key.get_name()}) matches {where}"), False


def _expected_fingerprints(config: SftpSourceConfig) -> list[str]:
    if config.host_key is not None:
        return [fingerprint(config.host_key)]
    if config.known_hosts is None:
        return []
    try:
        entry = paramiko.HostKeys(str(config.known_hosts)).lookup(
            known_hosts_name(config.host, config.port)
        )
    except (OSError, paramiko.SSHException):
        return []
    return [fingerprint(key_line(key)) for key in (entry or {}).values()]


def _authenticate(transport: paramiko.Transport, config: SftpSourceConfig, customer: str) -> Check:
    public_line = None
    if config.private_key is not None:
        # Loading the key first tells a key-file problem from a refusal by the server.
        try:
            key = load_private_key(
                config.private_key, config.private_key_passphrase, customer=customer
            )
        except AuthenticationFailed as exc:
            return _key_file_failure(config, exc)
        public_line = key_line(key)
    try:
        authenticate(transport, config, customer=customer)
    except AuthenticationFailed as exc:
        fixes = []
        if public_line is not None:
            fixes.append(
                "ask the customer to add our public key to the account's authorized keys: "
                f"{public_line}"
            )
        if config.password is not None:
            fixes.append("check source.password with the customer (expired or locked?)")
        fixes.append(f"check the user name {config.username!r}")
        fix = "; ".join(fixes)
        return Check.failed("authentication", str(exc), fix[0].upper() + fix[1:] + ".")
    except SourceUnavailable as exc:
        return Check.failed(
            "authentication", str(exc), "Run the check again; if it repeats, ask the customer."
        )
    methods = " and ".join(
        m
        for m, used in (("key", config.private_key), ("password", config.password))
        if used is not None
    )
    return Check.passed("authentication", f"logged in as {config.username!r} ({methods})")


def _key_file_failure(config: SftpSourceConfig, exc: AuthenticationFailed) -> Check:
    cause = exc.__cause__
    detail = str(exc)
    if isinstance(cause, OSError):
        if cause.errno is not None:
            detail += f" (errno {cause.errno})"
        fix = (
            f"Make {config.private_key} readable by the user running sftp-watcher, "
            "or correct source.private_key."
        )
    elif isinstance(cause, TypeError):
        fix = "The key is encrypted: set source.private_key_passphrase."
    else:
        fix = (
            "Check source.private_key_passphrase, and that the file is an ed25519, "
            "ecdsa or rsa private key."
        )
    return Check.failed("authentication", detail, fix)
