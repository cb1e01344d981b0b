"""Drop-to-archive latency of `run` in local mode: median and p95 over 50 files.

Issue 6: "Drop-to-archive latency in local mode: median and p95 over 50 files, printed by
make bench. Target: median under 1 s plus min_file_age_seconds." The poll interval is
long, so only the folder watcher can make the service take a file in time.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from bench._servers import (
    call_list,
    customer,
    emit,
    file_name,
    median,
    percentile,
    quiet_logs,
    settings_mapping,
)
from sftp_watcher.config import settings_from_mapping
from sftp_watcher.scheduler import run_service
from sftp_watcher.service import Service

FILES = 50
MIN_AGE_SECONDS = 0.5
POLL_INTERVAL_SECONDS = 60  # so that only the watcher can trigger a timely sweep
TIMEOUT_SECONDS = 2 * POLL_INTERVAL_SECONDS  # a file missed by the watcher is still taken


def main(files: int = FILES) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        root = Path(tmp)
        account = root / "account"
        for folder in ("Upload", "Success", "Failure"):
            (account / folder).mkdir(parents=True)
        mapping = settings_mapping(
            f"sqlite:///{root / 'state.db'}",
            [customer("local", {"kind": "local", "path": str(account), "watch": True})],
            outbox=root / "outbox",
            min_file_age_seconds=MIN_AGE_SECONDS,
            poll_interval_seconds=POLL_INTERVAL_SECONDS,
        )
        latencies = []
        with quiet_logs(), Service(settings_from_mapping(mapping)) as service:
            runner = threading.Thread(target=run_service, args=(service,), kwargs={"health": False})
            runner.start()
            try:
                time.sleep(1.0)  # the first sweep at start-up is done
                for n in range(1, files + 1):
                    latencies.append(_drop_and_wait(account, n))
            finally:
                service.stop.set()
                runner.join()
    target = 1.0 + MIN_AGE_SECONDS
    mid, p95 = median(latencies), percentile(latencies, 0.95)
    emit(
        f"latency: {files} files, local watch, min_file_age {MIN_AGE_SECONDS:g} s, poll every "
        f"{POLL_INTERVAL_SECONDS} s: median {mid:.2f} s, p95 {p95:.2f} s, max "
        f"{max(latencies):.2f} s (target median < {target:g} s) "
        f"{'OK' if mid < target else 'MISSED'}"
    )


def _drop_and_wait(account: Path, n: int) -> float:
    """Write one file (closed at once) and time until it is in Success/."""
    name = file_name(n)
    with (account / "Upload" / name).open("wb") as handle:
        handle.write(call_list(n))
    dropped = time.monotonic()
    archived = account / "Success" / name
    while not archived.exists():
        if time.monotonic() - dropped > TIMEOUT_SECONDS:
            raise RuntimeError(f"{name} was not archived within {TIMEOUT_SECONDS} s")
        time.sleep(0.01)
    return time.monotonic() - dropped


if __name__ == "__main__":
    main()
