"""Named points in the pipeline where the crash tests kill the process (SIGKILL) or
hang the thread that reaches it.

Inert unless ``SFTP_WATCHER_CRASH_AT`` names a point: "archive.before_rename" kills at
it, "phonon.after_send@2" at its second hit, "hang:phonon.before_send" blocks the thread
there for good, and a "#cust1" suffix limits the point to one customer's uploads. The
crash-safety tests start the real service with it to prove that a kill at every step
resumes cleanly, and that an upload that hangs is failed without stopping the others.
"""

from __future__ import annotations

import os
import signal
import threading
import time

_ENV = "SFTP_WATCHER_CRASH_AT"
_hits: dict[str, int] = {}
_guard = threading.Lock()

POINTS = (
    "claim.before_rename",
    "claim.after_rename",
    "judge.after_read",
    "judge.after_record",
    "phonon.before_send",
    "phonon.after_send",
    "archive.before_rename",
    "archive.after_rename",
    "archive.after_errors_file",
    "notify.after_queue",
    "email.after_send",
)
# The mailbox door's own steps (sftp_watcher.mailbox.door); its uploads pass the above too.
MAIL_POINTS = (
    "mail.after_record",
    "mail.after_stage",
    "mail.after_enter",
    "mail.after_answer",
    "mail.before_move",
    "mail.after_move",
)


def crashpoint(name: str, customer: str | None = None) -> None:
    target = os.environ.get(_ENV)
    if not target:
        return
    action, _, target = target.rpartition(":")
    target, _, only = target.partition("#")
    point, _, nth = target.partition("@")
    if point != name or (only and only != customer):
        return
    with _guard:
        _hits[name] = _hits.get(name, 0) + 1
        hit = _hits[name]
    if hit != int(nth or 1):
        return
    if action == "hang":
        while True:
            time.sleep(3600)
    os.kill(os.getpid(), signal.SIGKILL)
