"""Configuration (SPEC 7): YAML + environment, secrets from files, every problem by key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sftp_watcher.config import Settings, load_settings, settings_from_mapping
from sftp_watcher.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def minimal(tmp_path: Path, **customer: object) -> dict[str, object]:
    return {
        "customers": [
            {
                "id": "acme",
                "user_id": 129113,
                "source": {"kind": "local", "path": str(tmp_path)},
                "flows": [{"id": "o9vJavuB", "security_id": "s" * 64}],
                **customer,
            }
        ]
    }


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_example_configuration_documents_valid_keys_with_their_defaults(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))
    secret = tmp_path / "secret"
    secret.write_text("x" * 64 + "\n", encoding="utf-8")
    data["customers"][0]["flows"][0]["security_id_file"] = str(secret)
    settings = load_settings(write(tmp_path, data))
    defaults = Settings()
    keys = ("poll_interval_seconds", "min_file_age_seconds", "workers", "limits", "phonon")
    for key in (*keys, "upload_deadline_seconds"):
        assert getattr(settings, key) == getattr(defaults, key), key
    flow = settings.customers[0].flows[0]
    assert flow.security_id.get_secret_value() == "x" * 64  # read from the file, stripped


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFTP_WATCHER_PHONON__TIMEOUT_SECONDS", "10")
    monkeypatch.setenv("SFTP_WATCHER_WORKERS", "3")
    settings = load_settings(write(tmp_path, minimal(tmp_path)))
    assert settings.phonon.timeout_seconds == 10
    assert settings.workers == 3


def test_config_path_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, minimal(tmp_path))
    monkeypatch.setenv("SFTP_WATCHER_CONFIG", str(path))
    assert load_settings().customers[0].user_id == "129113"  # a YAML int is an id, not a number


def test_every_problem_is_listed_by_key_path(tmp_path: Path) -> None:
    data = minimal(tmp_path, user_id="abc", timezone="Mars/Olympus", emails=["not-an-email"])
    data["workers"] = 0
    with pytest.raises(ConfigError) as exc:
        load_settings(write(tmp_path, data))
    problems = "\n".join(exc.value.problems)
    for path in ("workers", "customers.0.user_id", "customers.0.timezone", "customers.0.emails"):
        assert path in problems


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="poll_intervall"):
        settings_from_mapping({"poll_intervall": 5})


def test_bulk_host_is_only_for_multicast_flows(tmp_path: Path) -> None:
    data = minimal(tmp_path)
    data["customers"][0]["flows"][0]["host"] = "bulk"  # type: ignore[index]
    with pytest.raises(ConfigError, match="multicast"):
        settings_from_mapping(data)


def test_secrets_never_appear_in_repr_or_errors(tmp_path: Path) -> None:
    data = minimal(tmp_path)
    data["sentry_dsn"] = "https://hunter2@sentry.example/1"
    data["customers"][0]["flows"][0]["security_id"] = "TOPSECRET" * 7  # type: ignore[index]
    settings = settings_from_mapping(data)
    assert "TOPSECRET" not in repr(settings) and "hunter2" not in repr(settings)
    data["workers"] = -1
    with pytest.raises(ConfigError) as exc:
        settings_from_mapping(data)
    assert "TOPSECRET" not in str(exc.value)


def test_sftp_source_needs_credentials(tmp_path: Path) -> None:
    data = minimal(tmp_path)
    data["customers"][0]["source"] = {"kind": "sftp", "host": "h", "username": "u"}  # type: ignore[index]
    with pytest.raises(ConfigError, match="password or a private_key"):
        settings_from_mapping(data)


def test_log_level_is_read_in_any_case_and_a_wrong_one_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings_from_mapping({"log_level": "debug"}).log_level == "DEBUG"
    monkeypatch.setenv("SFTP_WATCHER_LOG_LEVEL", "warning")
    assert load_settings(write(tmp_path, minimal(tmp_path))).log_level == "WARNING"
    with pytest.raises(ConfigError, match="log_level"):
        settings_from_mapping({"log_level": "loud"})


def _email_channel(tmp_path: Path, **upload: object) -> dict[str, object]:
    data = minimal(tmp_path)
    data["email_upload"] = {
        "address": "uploads@phonon.example",
        "imap": {"host": "imap.example", "username": "u", "password": "hunter2"},
        "authserv_id": "mx.phonon.example",
        **upload,
    }
    return data


def test_email_channel_reads_its_password_from_a_file_and_never_shows_it(tmp_path: Path) -> None:
    secret = tmp_path / "imap-password"
    secret.write_text("s3cret-imap\n", encoding="utf-8")
    data = _email_channel(tmp_path)
    data["email_upload"]["imap"] = {  # type: ignore[index]
        "host": "imap.example",
        "username": "u",
        "password_file": str(secret),
    }
    settings = load_settings(write(tmp_path, data))
    assert settings.email_upload is not None
    assert settings.email_upload.imap.password.get_secret_value() == "s3cret-imap"
    assert "s3cret-imap" not in repr(settings)
    assert settings.email_upload.imap.port == 993


def test_email_channel_is_off_without_configuration(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, minimal(tmp_path))).email_upload is None


def test_flow_ids_differing_only_in_case_are_refused_when_the_channel_is_on(
    tmp_path: Path,
) -> None:
    data = _email_channel(tmp_path)
    flows = data["customers"][0]["flows"]  # type: ignore[index]
    flows.append({**flows[0], "id": flows[0]["id"].swapcase()})
    with pytest.raises(ConfigError, match="compared ignoring case"):
        load_settings(write(tmp_path, data))
    del data["email_upload"]
    assert len(load_settings(write(tmp_path, data)).customers[0].flows) == 2


def test_trusting_senders_needs_an_authserv_id(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="authserv_id"):
        load_settings(write(tmp_path, _email_channel(tmp_path, authserv_id=None)))
    assert load_settings(
        write(
            tmp_path, _email_channel(tmp_path, authserv_id=None, require_authenticated_sender=False)
        )
    ).email_upload


def test_email_senders_are_addresses_or_domain_patterns(tmp_path: Path) -> None:
    data = _email_channel(tmp_path)
    data["customers"][0]["email_senders"] = ["ops@acme.example", "*@calls.acme.example"]  # type: ignore[index]
    assert (
        load_settings(write(tmp_path, data)).customers[0].email_senders[1] == "*@calls.acme.example"
    )
    data["customers"][0]["email_senders"] = ["acme.example"]  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"customers\.0\.email_senders"):
        load_settings(write(tmp_path, data))


def test_upload_deadline_defaults_to_the_retry_budget_plus_ten_minutes(tmp_path: Path) -> None:
    assert settings_from_mapping(minimal(tmp_path)).upload_deadline() == 900 + 600
    budget = {**minimal(tmp_path), "phonon": {"retry_budget_seconds": 60}}
    assert settings_from_mapping(budget).upload_deadline() == 660
    assert settings_from_mapping({**budget, "upload_deadline_seconds": 61}).upload_deadline() == 61


def test_upload_deadline_must_exceed_the_retry_budget(tmp_path: Path) -> None:
    data = {**minimal(tmp_path), "upload_deadline_seconds": 900}
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(data)
    [problem] = caught.value.problems
    assert "upload_deadline_seconds: 900 must exceed phonon.retry_budget_seconds (900)" in problem
