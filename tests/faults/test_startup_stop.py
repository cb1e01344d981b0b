"""SIGTERM and SIGINT at any moment of `run`'s start-up end in a clean stop, exit 0 (SPEC 9).

The handlers are installed before the configuration is read; a stop that comes while
the configuration, the secrets, the migrations or the schedule are being set up stops
the service as one that comes later does.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.conftest import Fleet, RunProcess, wait_for

ACCOUNTS = 150


def _catches(pid: int, signum: int) -> bool:
    """Whether the process has a handler for ``signum`` (Linux: SigCgt in its status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (signum - 1) & 1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("moment", ["handlers-installed", "first-log-line"])
def test_a_stop_during_start_up_exits_0(
    fleet: Fleet,
    run_process: Callable[..., RunProcess],
    moment: str,
    signum: signal.Signals,
) -> None:
    for _ in range(ACCOUNTS):
        fleet.add_local()
    run = run_process(fleet.write_config())
    if moment == "handlers-installed":
        # The earliest moment: before the configuration is read.
        wait_for(lambda: _catches(run.pid, signal.SIGTERM), 60, "no handler installed")
    else:
        # Logging is set up: the secrets are being registered, the database migrated.
        wait_for(lambda: run.log_path.stat().st_size > 0, 60, "nothing logged")
    run.process.send_signal(signum)
    assert run.process.wait(timeout=60) == 0, run.log_path.read_text()[-3000:]
    run.kill()
