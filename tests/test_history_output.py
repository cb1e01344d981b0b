"""`history` prints customer file names and reasons escaped; its JSON keeps them exact."""

from __future__ import annotations

import json

from sftp_watcher import history
from sftp_watcher.calllist import text

NAME = "C1_ab\x1b]0;owned\x07\u202egnp.csv"


def row() -> dict[str, object]:
    return {
        "created_at": "2026-02-08T10:00:00+00:00",
        "customer": "acme",
        "channel": "sftp",  # shown once history has a channel column
        "file": NAME,
        "state": "done",
        "outcome": "failure",
        "rows_triggered": 0,
        "rows_total": 1,
        "reason": "bad \x9b2J",
    }


def test_history_table_escapes_control_and_bidi_characters() -> None:
    shown = history.render_history([row()])
    assert not any(c in shown for c in "\x1b\x07\x9b\u202e")
    assert "C1_ab\\x1b]0;owned\\x07\\u202egnp.csv" in shown


def test_history_json_escapes_what_json_leaves_raw_and_keeps_the_value() -> None:
    dumped = text.escape_json_text(json.dumps([row()], ensure_ascii=False))
    assert not any(c in dumped for c in "\x1b\x07\x9b\u202e")
    assert json.loads(dumped)[0]["file"] == NAME
