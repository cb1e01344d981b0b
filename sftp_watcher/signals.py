"""SIGTERM and SIGINT ask `run` to stop cleanly (SPEC 9: exit 0), from its first moment.

Kept apart from the scheduler so that `run` installs the handlers before it imports the
service or reads its configuration: a stop during start-up is a stop, not a kill.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import structlog

log = structlog.get_logger("sftp_watcher.signals")


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop``. Only the main thread can install them."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        log.info("service.signal", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
