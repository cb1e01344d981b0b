"""The smallest working configuration: one local account under a test's tmp folder, Phonon in
dry run, emails as files, no metrics port."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def local_account_mapping(tmp_path: Path) -> dict[str, Any]:
    """The mapping (``Upload/`` created) for a configuration file or ``settings_from_mapping``."""
    (tmp_path / "Upload").mkdir()
    return {
        "state_url": f"sqlite:///{tmp_path / 'state.db'}",
        "metrics_port": None,
        "phonon": {"dry_run": True, "dry_run_log": str(tmp_path / "phonon.jsonl")},
        "email": {"backend": "file", "file_dir": str(tmp_path / "outbox")},
        "customers": [
            {
                "id": "acme",
                "user_id": 129113,
                "source": {"kind": "local", "path": str(tmp_path)},
                "flows": [{"id": "o9vJavuB", "security_id": "s" * 64}],
            }
        ],
    }
