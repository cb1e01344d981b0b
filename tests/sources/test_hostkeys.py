"""Host key checks and private key loading, with keys made in the test (no server)."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sftp_watcher.config import SftpSourceConfig
from sftp_watcher.errors import AuthenticationFailed, HostKeyMismatch, UnknownHostKey
from sftp_watcher.sources.hostkeys import (
    fingerprint,
    key_line,
    known_hosts_name,
    load_private_key,
    preferred_key_types,
    verify_host_key,
)


def ecdsa_key() -> paramiko.ECDSAKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return paramiko.ECDSAKey(vals=(private, private.public_key()))


def config(**values: object) -> SftpSourceConfig:
    return SftpSourceConfig.model_validate(
        {"host": "sftp.example", "username": "u", "password": "pw", **values}
    )


def test_key_line_and_fingerprint_match_what_openssh_shows() -> None:
    key = ecdsa_key()
    line = key_line(key)
    assert line.split()[0] == "ecdsa-sha2-nistp256"
    assert fingerprint(line) == key.fingerprint  # paramiko computes it as OpenSSH does
    assert fingerprint("ssh-ed25519 not*base64") == "(not a valid key line)"


def test_pinned_key_is_accepted() -> None:
    key = ecdsa_key()
    verify_host_key(key, config(host_key=key_line(key) + " comment"), customer="acme")


def test_other_pinned_key_is_refused_showing_both_fingerprints() -> None:
    server, pinned = ecdsa_key(), ecdsa_key()
    with pytest.raises(HostKeyMismatch) as caught:
        verify_host_key(server, config(host_key=key_line(pinned)), customer="acme")
    message = str(caught.value)
    assert "attack" in message
    assert server.fingerprint in message
    assert pinned.fingerprint in message
    assert caught.value.customer == "acme"


def test_no_pin_and_no_known_hosts_is_refused_with_the_line_to_pin() -> None:
    key = ecdsa_key()
    with pytest.raises(UnknownHostKey) as caught:
        verify_host_key(key, config(), customer="acme")
    assert caught.value.key_line == key_line(key)
    assert key_line(key) in str(caught.value)


def test_known_hosts_entries_use_bracketed_host_and_port_off_port_22(tmp_path: Path) -> None:
    key = ecdsa_key()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[sftp.example]:2222 {key_line(key)}\n")
    verify_host_key(key, config(port=2222, known_hosts=known_hosts), customer="acme")
    with pytest.raises(UnknownHostKey):  # same host, other port: not known
        verify_host_key(key, config(port=22, known_hosts=known_hosts), customer="acme")
    assert known_hosts_name("h", 22) == "h"


def test_hashed_known_hosts_entry_is_recognised(tmp_path: Path) -> None:
    key = ecdsa_key()
    known_hosts = tmp_path / "known_hosts"
    hashed = paramiko.HostKeys.hash_host("sftp.example")
    known_hosts.write_text(f"{hashed} {key_line(key)}\n")
    verify_host_key(key, config(known_hosts=known_hosts), customer="acme")


def test_known_hosts_with_another_key_for_the_host_is_a_mismatch(tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"sftp.example {key_line(ecdsa_key())}\n")
    with pytest.raises(HostKeyMismatch):
        verify_host_key(ecdsa_key(), config(known_hosts=known_hosts), customer="acme")


def test_unreadable_known_hosts_trusts_nothing_and_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "missing_known_hosts"
    with pytest.raises(UnknownHostKey, match="not a readable file"):
        verify_host_key(ecdsa_key(), config(known_hosts=missing), customer="acme")


def test_pinned_key_type_is_asked_for_first() -> None:
    offered = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256")
    rsa_pinned = config(host_key="ssh-rsa AAAAB3NzaC1yc2E=")
    assert preferred_key_types(rsa_pinned, offered) == (
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
    )
    assert preferred_key_types(config(), offered) == offered


def write_ed25519(path: Path, passphrase: bytes | None) -> None:
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    path.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
        )
    )


def test_loads_an_encrypted_key_with_its_passphrase(tmp_path: Path) -> None:
    from pydantic import SecretStr

    write_ed25519(tmp_path / "k", b"open sesame")
    key = load_private_key(tmp_path / "k", SecretStr("open sesame"), customer="acme")
    assert key.get_name() == "ssh-ed25519"


def test_encrypted_key_without_passphrase_is_an_authentication_failure(tmp_path: Path) -> None:
    write_ed25519(tmp_path / "k", b"open sesame")
    with pytest.raises(AuthenticationFailed, match="private_key_passphrase"):
        load_private_key(tmp_path / "k", None, customer="acme")


def test_a_file_that_is_not_a_key_is_an_authentication_failure(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("hello\n")
    with pytest.raises(AuthenticationFailed, match="cannot load private key"):
        load_private_key(tmp_path / "k", None, customer="acme")
