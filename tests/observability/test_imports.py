"""A cold `poll-once` pays only for the imports it uses: Sentry's SDK waits for a DSN."""

from __future__ import annotations

import subprocess
import sys

from sftp_watcher import observability


def test_the_sweep_path_does_not_import_sentry_sdk() -> None:
    code = "import sys, sftp_watcher.cli, sftp_watcher.service; print('sentry_sdk' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )

    assert result.stdout.strip() == "False"


def test_the_package_names_still_resolve() -> None:
    assert observability.init_sentry.__module__ == "sftp_watcher.observability.sentry"
    assert observability.HealthServer.__name__ == "HealthServer"
