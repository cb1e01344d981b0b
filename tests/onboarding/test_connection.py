"""Diagnoses of connection failures that a loopback server cannot stage (pure)."""

from __future__ import annotations

from sftp_watcher.config import SftpSourceConfig
from sftp_watcher.errors import ConnectFailed
from sftp_watcher.onboarding.connection import _ssh_failure, _tcp_failure

CONFIG = SftpSourceConfig(
    host="sftp.acme.example", port=2222, username="phonon", password="x", connect_timeout_seconds=7
)


def test_a_timeout_blames_a_firewall_and_asks_for_our_egress_ip() -> None:
    check = _tcp_failure(CONFIG, ConnectFailed("cannot connect", reason="timeout"))
    assert check.status == "fail"
    assert check.detail == "no answer from sftp.acme.example:2222 within 7 s"
    assert "firewall" in check.fix
    assert "egress IP" in check.fix


def test_no_route_names_the_error_and_the_host() -> None:
    error = ConnectFailed(
        "cannot connect to sftp.acme.example:2222: No route", reason="unreachable"
    )
    check = _tcp_failure(CONFIG, error)
    assert check.detail == str(error)
    assert "source.host" in check.fix


def test_no_common_algorithm_is_told_apart_from_not_ssh() -> None:
    handshake = _ssh_failure(CONFIG, ConnectFailed("x", reason="handshake"))
    not_ssh = _ssh_failure(CONFIG, ConnectFailed("x", reason="not_ssh"))
    assert "offers no algorithm we accept" in handshake.detail
    assert not_ssh.detail == "port 2222 of sftp.acme.example answers but is not an SSH server"
