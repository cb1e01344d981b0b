"""SSH keys of the SFTP source: the server's, checked (never trusted on first use); ours, loaded."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from paramiko.pkey import UnknownKeyType
from pydantic import SecretStr

from sftp_watcher.config import SftpSourceConfig
from sftp_watcher.errors import AuthenticationFailed, HostKeyMismatch, UnknownHostKey

# A key's type in a key line is not always the name of the signature algorithm that
# proves it: an RSA key ("ssh-rsa") is negotiated as rsa-sha2-512 or rsa-sha2-256.
_ALGORITHMS_FOR_TYPE = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


def key_line(key: paramiko.PKey) -> str:
    """``"<type> <base64>"`` as it is written in ``host_key`` or a known_hosts file."""
    return f"{key.get_name()} {key.get_base64()}"


def fingerprint(line: str) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint of a key line (what ``ssh-keygen -lf`` shows)."""
    blob = _key_blob(line)
    if blob is None:
        return "(not a valid key line)"
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """How known_hosts names a server: ``host``, or ``[host]:port`` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


def preferred_key_types(config: SftpSourceConfig, offered: Sequence[str]) -> tuple[str, ...]:
    """``offered`` reordered so the types we already know for this server come first.

    A server with several host keys shows the one we ask for first; asking for the
    pinned type avoids refusing a server whose pinned key is fine but not its first.
    """
    known: list[str] = []
    if config.host_key is not None:
        known.append(config.host_key.split()[0])
    if config.known_hosts is not None:
        known.extend(key.get_name() for key in _known_keys(config))
    wanted: list[str] = []
    for key_type in known:
        wanted.extend(_ALGORITHMS_FOR_TYPE.get(key_type, (key_type,)))
    first = [t for t in offered if t in wanted]
    return tuple(first + [t for t in offered if t not in first])


def verify_host_key(server_key: paramiko.PKey, config: SftpSourceConfig, *, customer: str) -> None:
    """Accept the server's key only if it is pinned or listed in known_hosts.

    Raises ``HostKeyMismatch`` when we know a key for this server and it is another one
    (someone may be in the middle), ``UnknownHostKey`` when we know none (it carries
    the key line to pin).
    """
    line = key_line(server_key)
    blob = server_key.asbytes()
    if config.host_key is not None and _key_blob(config.host_key) == blob:
        return
    known = _known_keys(config) if config.known_hosts is not None else []
    if any(key.asbytes() == blob for key in known):
        return
    expected = config.host_key or (key_line(known[0]) if known else None)
    if expected is not None:
        raise HostKeyMismatch(
            f"host key of {config.host}:{config.port} has changed — this may be an attack "
            f"(someone between us and the server) or a reinstalled server; expected "
            f"{fingerprint(expected)}, server presented {fingerprint(line)} ({line}). "
            "Confirm the new key with the server's owner before pinning it.",
            customer=customer,
        )
    unreadable = config.known_hosts is not None and not config.known_hosts.is_file()
    raise UnknownHostKey(
        f"host key of {config.host}:{config.port} is not trusted: it is neither pinned "
        f"(host_key) nor in known_hosts"
        + (f" ({config.known_hosts} is not a readable file)" if unreadable else "")
        + f"; the server presented {fingerprint(line)}. "
        f'Confirm it with the server\'s owner, then set host_key: "{line}"',
        key_line=line,
        customer=customer,
    )


def load_private_key(path: Path, passphrase: SecretStr | None, *, customer: str) -> paramiko.PKey:
    """Read an ed25519, ecdsa or rsa private key (OpenSSH or PEM format)."""
    secret = passphrase.get_secret_value() if passphrase is not None else None
    try:
        try:
            return _read_private_key(path, secret)
        except TypeError:
            # cryptography raises TypeError for a passphrase the key does not need
            # (fine: use the key) and for a missing one (reported below).
            if secret is None:
                raise
            return _read_private_key(path, None)
    except OSError as exc:
        problem = f"cannot read private key {path}: {exc.strerror or exc}"
        raise AuthenticationFailed(problem, customer=customer) from exc
    except TypeError as exc:
        problem = f"private key {path} is encrypted: set private_key_passphrase"
        raise AuthenticationFailed(problem, customer=customer) from exc
    except (ValueError, paramiko.SSHException, UnknownKeyType) as exc:
        problem = (
            f"cannot load private key {path}: wrong passphrase, or not an ed25519/ecdsa/rsa key"
        )
        raise AuthenticationFailed(problem, customer=customer) from exc


def _read_private_key(path: Path, secret: str | None) -> paramiko.PKey:
    # cryptography parses every format; paramiko's own readers reject about half of
    # OpenSSH-format ECDSA keys, depending on the comment's length (paramiko #2445).
    data = path.read_bytes()
    password = secret.encode() if secret is not None else None
    loaded: PrivateKeyTypes
    try:
        loaded = serialization.load_ssh_private_key(data, password=password)
    except ValueError:
        loaded = serialization.load_pem_private_key(data, password=password)
    if isinstance(loaded, ec.EllipticCurvePrivateKey):
        return paramiko.ECDSAKey(vals=(loaded, loaded.public_key()))
    if isinstance(loaded, rsa.RSAPrivateKey):
        return paramiko.RSAKey(key=loaded)
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        # paramiko builds this type only from the file (its signing goes through PyNaCl).
        return paramiko.Ed25519Key(filename=str(path), password=secret)
    raise UnknownKeyType(key_type=type(loaded).__name__)


def _known_keys(config: SftpSourceConfig) -> list[paramiko.PKey]:
    if config.known_hosts is None:
        return []
    try:
        host_keys = paramiko.HostKeys(str(config.known_hosts))
    except (OSError, paramiko.SSHException):
        # An unreadable file trusts nothing; the refusal that follows names the key to pin.
        return []
    entry = host_keys.lookup(known_hosts_name(config.host, config.port))
    return list(entry.values()) if entry is not None else []


def _key_blob(line: str) -> bytes | None:
    parts = line.split()
    if len(parts) < 2:
        return None
    try:
        return base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        return None
