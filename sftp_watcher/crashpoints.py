"""Named points in the pipeline where the crash tests kill the process (SIGKILL).

Inert unless ``SFTP_WATCHER_CRASH_AT`` names a point ("archive.before_rename", or
"phonon.after_send@2" for its second hit). The crash-safety tests start the real
service with it to prove that a kill at every step resumes cleanly.
"""

from __future__ import annotations

import os
import signal
import threading

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


def crashpoint(name: str) -> None:
    target = os.environ.get(_ENV)
    if not target:
        return
    point, _, nth = target.partition("@")
    if point != name:
        return
    with _guard:
        _hits[name] = _hits.get(name, 0) + 1
        hit = _hits[name]
    if hit == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
