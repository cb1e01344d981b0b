"""What the configuration exposes: YAML syntax errors (exit 2, line and column), the state
database password masked wherever the URL shows, the metrics port on loopback by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftp_watcher.cli import main
from sftp_watcher.config import Settings, load_settings
from sftp_watcher.observability.logs import scrub_text
from sftp_watcher.state import urls

PASSWORD = "hunter2-s3cr3t"
PG_URL = f"postgresql+psycopg://watcher:{PASSWORD}@db.example:5432/state"


def test_a_yaml_syntax_error_exits_2_naming_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("workers: 4\ncustomers: [\n  id: acme\nfoo: 1\n", encoding="utf-8")

    assert main(["history", "--config", str(config)]) == 2

    err = capsys.readouterr().err
    assert "line 4, column 4" in err
    assert "YAML syntax error" in err
    assert "Traceback" not in err


def test_settings_repr_and_str_mask_the_state_url_password(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"state_url: {PG_URL}\n", encoding="utf-8")

    settings = load_settings(config)

    assert settings.state_url == PG_URL  # the engine still gets the real URL
    for shown in (repr(settings), str(settings), f"{settings!r}"):
        assert PASSWORD not in shown
        assert "watcher:***@db.example" in shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (PG_URL, "postgresql+psycopg://watcher:***@db.example:5432/state"),
        ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db"),
        ("sqlite:///var/sftp-watcher/state.db", "sqlite:///var/sftp-watcher/state.db"),
        ("not a url://u:pw@h", "not a url://u:***@h"),
    ],
)
def test_masked_url(url: str, shown: str) -> None:
    assert urls.masked_url(url) == shown


def test_the_cli_registers_the_state_url_password_for_scrubbing(tmp_path: Path) -> None:
    """A driver error quoting the URL reaches no log line: the password is scrubbed."""
    config = tmp_path / "config.yaml"
    state = "postgresql://u:p%40ss-w0rd@127.0.0.1:1/db?connect_timeout=1"
    config.write_text(f"state_url: '{state}'\nmetrics_port: null\n", encoding="utf-8")

    main(["history", "--config", str(config)])  # the database is unreachable: exit 3

    assert set(urls.url_passwords(state)) == {"p%40ss-w0rd", "p@ss-w0rd"}
    assert "p@ss-w0rd" not in scrub_text("connect to u:p@ss-w0rd failed")
    assert "p%40ss-w0rd" not in scrub_text(f"bad url {state}")


def test_metrics_listen_on_loopback_unless_configured() -> None:
    assert Settings().metrics_host == "127.0.0.1"
    assert Settings(metrics_host="0.0.0.0").metrics_host == "0.0.0.0"
