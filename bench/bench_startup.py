"""`run` start-up for many customers: from the process's start to its first poll.

Issue 19: "Start-up must be linear and take seconds for 2,000 customers (configuration,
secrets, migrations, scheduling)". A generated configuration of local-folder customers
(each with its own flow security id, and an SMTP password: one secret per customer and
one more), a fresh SQLite state database; the figures are read from the JSON log.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

TIMEOUT_SECONDS = 600.0


def config(base: Path, customers: int) -> dict[str, Any]:
    entries = []
    for i in range(customers):
        root = base / "accounts" / f"c{i}"
        for folder in ("Upload", "Success", "Failure"):
            (root / folder).mkdir(parents=True)
        entries.append(
            {
                "id": f"c{i}",
                "user_id": str(100_000 + i),
                "emails": [f"ops@c{i}.example"],
                "source": {"kind": "local", "path": str(root), "watch": False},
                "flows": [{"id": "o9vJavuB", "security_id": secrets.token_hex(32)}],
            }
        )
    return {
        "poll_interval_seconds": 60,
        "state_url": f"sqlite:///{base / 'state.db'}",
        "metrics_port": None,
        "log_level": "DEBUG",
        "phonon": {"dry_run": True, "dry_run_log": str(base / "requests.jsonl")},
        "email": {
            "backend": "file",
            "file_dir": str(base / "outbox"),
            "from": "u@example.com",
            "smtp": {"password": secrets.token_hex(16)},
        },
        "customers": entries,
    }


def measure(customers: int) -> dict[str, float]:
    """Seconds from the start of `run` to its first event, ``service.started`` and its
    first ``poll.finished``."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        base = Path(tmp)
        path = base / "config.yaml"
        path.write_text(yaml.safe_dump(config(base, customers)), encoding="utf-8")
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "sftp_watcher.cli", "run", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        figures: dict[str, float] = {}
        try:
            assert process.stderr is not None
            for line in process.stderr:
                if time.monotonic() - started > TIMEOUT_SECONDS:
                    break
                try:
                    event = json.loads(line).get("event")
                except ValueError:
                    continue
                at = time.monotonic() - started
                figures.setdefault("first_event_s", at)
                if event in {"service.started", "poll.finished"}:
                    figures.setdefault(f"{event}_s", at)
                if "poll.finished_s" in figures and "service.started_s" in figures:
                    break
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)
            figures["exit_code"] = float(process.returncode)
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="+", default=[500, 1000, 2000])
    for customers in parser.parse_args().customers:
        print(json.dumps({"customers": customers, **measure(customers)}), flush=True)


if __name__ == "__main__":
    main()
