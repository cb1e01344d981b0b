"""The upload page's configuration and `hash-password` (SPEC 7, 10, 12)."""

import io
import subprocess
import sys

import pytest

from sftp_watcher.config import settings_from_mapping
from sftp_watcher.errors import ConfigError
from sftp_watcher.web.passwords import hash_password, verify_password

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


def _customer(cid: str, email: str) -> dict[str, object]:
    return {
        "id": cid,
        "user_id": "1",
        "source": {"kind": "local", "path": "/tmp"},
        "flows": [{"id": "F1", "security_id": "s" * 64}],
        "web_users": [{"email": email, "password_hash": HASH}],
    }


def test_web_defaults_and_spool_beside_the_state_database(tmp_path):
    settings = settings_from_mapping(
        {"state_url": f"sqlite:///{tmp_path}/state.db", "web": {"session_secret": "k" * 32}}
    )
    assert settings.web is not None
    assert (settings.web.host, settings.web.port, settings.web.session_idle_hours) == (
        "127.0.0.1",
        None,
        8,
    )
    assert settings.spool_dir() == tmp_path / "spool"
    assert "k" * 32 not in repr(settings)


def test_session_secret_required_when_served_and_read_from_a_file(tmp_path):
    with pytest.raises(ConfigError, match=r"web: .*session_secret is required"):
        settings_from_mapping({"web": {"port": 8080}})
    secret = tmp_path / "secret"
    secret.write_text("s3cret-s3cret-s3cret\n")
    settings = settings_from_mapping({"web": {"port": 8080, "session_secret_file": str(secret)}})
    assert settings.web is not None and settings.web.session_secret is not None
    assert settings.web.session_secret.get_secret_value() == "s3cret-s3cret-s3cret"


def test_a_web_user_belongs_to_one_customer_and_hashes_are_argon2id():
    with pytest.raises(ConfigError, match="web user"):
        settings_from_mapping(
            {"customers": [_customer("a", "x@a.example"), _customer("b", "X@a.example")]}
        )
    bad = _customer("a", "x@a.example")
    bad["web_users"] = [{"email": "x@a.example", "password_hash": "plain"}]
    with pytest.raises(ConfigError, match=r"customers\.0\.web_users\.0\.password_hash"):
        settings_from_mapping({"customers": [bad]})
    settings = settings_from_mapping({"customers": [_customer("a", "x@a.example")]})
    assert HASH not in repr(settings)


def test_hash_password_from_stdin_verifies():
    result = subprocess.run(
        [sys.executable, "-m", "sftp_watcher.cli", "hash-password"],
        input="correct horse\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    digest = result.stdout.strip()
    assert digest.startswith("$argon2id$")
    assert "correct horse" not in result.stdout + result.stderr
    assert verify_password(digest, "correct horse")
    assert not verify_password(digest, "correct horsE")
    assert not verify_password(None, "correct horse")


def test_hash_password_refuses_an_empty_password(monkeypatch, capsys):
    from sftp_watcher.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    assert main(["hash-password"]) == 2
    with pytest.raises(ValueError):
        hash_password("")
