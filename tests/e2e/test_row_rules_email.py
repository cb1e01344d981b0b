"""The customer rules of SPEC 5 reach the account holder: the email and the errors file
carry the calling-hours and country-code reasons, end to end on a local account."""

from __future__ import annotations

import email
import email.policy
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sftp_watcher.config import settings_from_mapping
from sftp_watcher.demo import embedded_mapping, prepare_tree
from sftp_watcher.service import Service


def test_rows_outside_the_calling_hours_and_bare_numbers_are_reported_in_the_email(
    tmp_path: Path,
) -> None:
    # A one-hour window two hours from now, in India: calls to start now are outside it.
    later = datetime.now(UTC).astimezone(ZoneInfo("Asia/Kolkata")) + timedelta(hours=2)
    window = f"{later:%H}:00-{(later + timedelta(hours=1)):%H}:00"
    tomorrow = (later + timedelta(days=1)).strftime("%Y-%m-%dT%H:30:00")
    mapping = embedded_mapping(tmp_path, metrics_port=None)
    mapping["min_file_age_seconds"] = 0
    mapping["customers"][0]["calling_hours"] = window
    account = prepare_tree(tmp_path)
    upload = account / "Upload" / "C129113_o9vJavuB.csv"
    upload.write_text(
        "tel1,Name,starttime\n"
        "918123400001,Asha,\n"  # calls now: outside the window
        f"918123400002,Ravi,{tomorrow}\n"  # inside tomorrow's window
        f"6858366258,Priya,{tomorrow}\n",  # an Indian mobile without its country code
        encoding="utf-8",
    )
    past = time.time() - 60
    os.utime(upload, (past, past))
    with Service(settings_from_mapping(mapping)) as service:
        service.poll_once(None)

    [eml] = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "1 of 3 calls scheduled" in message["Subject"]
    assert f"outside the calling hours {window} (Asia/Kolkata)" in text
    assert "6858366258 has no country code" in text
    errors = (account / "Success" / "C129113_o9vJavuB.csv.errors.csv").read_text("utf-8")
    assert f"outside the calling hours {window} (Asia/Kolkata)" in errors
