"""A cold `poll-once` pays only for what an idle sweep uses: no pandas or numpy (nothing is
judged), no httpx or click (nothing is sent) and no Alembic (the database is at the package's
schema head)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from alembic.config import Config
from alembic.script import ScriptDirectory

from sftp_watcher.state.store import SCHEMA_HEAD
from tests.local_config import local_account_mapping

HEAVY = ("pandas", "numpy", "alembic", "httpx", "click")

POLL = """
import json, sys
from sftp_watcher.cli import main
code = main(["poll-once", "--config", sys.argv[1]])
print(json.dumps({"code": code, "loaded": [m for m in sys.argv[2:] if m in sys.modules]}))
"""


def _poll_once(config: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", POLL, str(config), *HEAVY],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def _config(tmp_path: Path) -> Path:
    settings = local_account_mapping(tmp_path)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return config


def test_an_idle_poll_once_on_a_current_database_imports_no_pandas_httpx_nor_alembic(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    first = _poll_once(config)  # creates and migrates the database: Alembic runs
    assert first == {"code": 0, "loaded": ["alembic"]}

    assert _poll_once(config) == {"code": 0, "loaded": []}


def test_the_schema_head_constant_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", "sftp_watcher.state:migrations")

    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_HEAD]
