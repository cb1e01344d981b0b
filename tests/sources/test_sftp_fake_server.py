"""SftpSource against pytest-sftpserver, an in-process server that, unlike OpenSSH,
silently replaces the target of a rename: free_name is what keeps files safe there."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_sftpserver.consts import SERVER_KEY_PUBLIC

from sftp_watcher.config import SftpSourceConfig
from sftp_watcher.errors import UnknownHostKey
from sftp_watcher.sources.base import Folder
from sftp_watcher.sources.names import free_name
from sftp_watcher.sources.sftp import SessionLimiter, SftpSource

NOW = datetime(2026, 2, 8, 15, 42, 7, tzinfo=UTC)


def fake_source(sftpserver: Any, **values: object) -> SftpSource:
    pinned = " ".join(Path(SERVER_KEY_PUBLIC).read_text().split()[:2])
    config = SftpSourceConfig.model_validate(
        {
            "host": sftpserver.host,
            "port": sftpserver.port,
            "username": "anyone",
            "password": "any password",  # the fake accepts every login
            "host_key": pinned,
            "connect_timeout_seconds": 5,
            **values,
        }
    )
    return SftpSource("acme", config, limiter=SessionLimiter())


def test_plain_rename_onto_an_existing_name_silently_replaces_it_on_this_server(
    sftpserver: Any,
) -> None:
    """Why nothing may rely on a failed rename: here it does not fail."""
    content = {"Upload": {"C1_a.csv": "new"}, "Success": {"C1_a.csv": "old"}, "Failure": {}}
    with sftpserver.serve_content(content), fake_source(sftpserver) as src:
        src.rename(Folder.UPLOAD, "C1_a.csv", Folder.SUCCESS, "C1_a.csv")
        assert src.read(Folder.SUCCESS, "C1_a.csv", 100) == b"new"


def test_free_name_then_rename_never_overwrites_on_a_replacing_server(sftpserver: Any) -> None:
    content = {
        "Upload": {"C1_a.csv": "third"},
        "Success": {"C1_a.csv": "first", "C1_a_20260208154207.csv": "second"},
        "Failure": {},
    }
    with sftpserver.serve_content(content), fake_source(sftpserver) as src:
        target = free_name(src, Folder.SUCCESS, "C1_a.csv", NOW)
        assert target == "C1_a_20260208154207_2.csv"
        src.rename(Folder.UPLOAD, "C1_a.csv", Folder.SUCCESS, target)
        assert src.read(Folder.SUCCESS, "C1_a.csv", 100) == b"first"
        assert src.read(Folder.SUCCESS, "C1_a_20260208154207.csv", 100) == b"second"
        assert src.read(Folder.SUCCESS, target, 100) == b"third"
        assert not src.exists(Folder.UPLOAD, "C1_a.csv")


def test_password_login_and_pinned_rsa_host_key_work(sftpserver: Any) -> None:
    content = {"Upload": {"C1_a.csv": "tel1\n"}, "Success": {}, "Failure": {}}
    with sftpserver.serve_content(content), fake_source(sftpserver) as src:
        assert [e.name for e in src.list(Folder.UPLOAD)] == ["C1_a.csv"]


def test_unpinned_rsa_host_key_is_refused(sftpserver: Any) -> None:
    with pytest.raises(UnknownHostKey) as caught:
        fake_source(sftpserver, host_key=None).open()
    assert caught.value.key_line.startswith("ssh-rsa ")
