"""The drop pipeline end to end on a real OpenSSH server, Phonon stub and SMTP server."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest

from sftp_watcher.service import Service
from sftp_watcher.state.store import Store
from tests.servers.rig import FLOW_ID, SECRET, USER_ID, Rig, csv_text, mobile, tomorrow_at

pytestmark = pytest.mark.sshd

NAME = f"C{USER_ID}_{FLOW_ID}.csv"


def test_valid_file_is_triggered_archived_and_reported(rig: Rig) -> None:
    rig.drop(NAME, csv_text(mobile(1), mobile(2), mobile(3)))
    result = rig.poll()

    assert [s.processed for s in result.sweeps] == [1]
    assert rig.listing() == {"Upload": [], "Success": [NAME], "Failure": []}
    calls = rig.phonon.accepted_calls
    assert sorted(c["contact-numbers"][0] for c in calls) == [mobile(1), mobile(2), mobile(3)]
    assert rig.subjects() == [f"Upload processed: {NAME} — 3 of 3 calls scheduled"]
    (mail,) = rig.smtp.messages
    assert mail.rcpt_tos == ("ops@acme.example",)


def test_file_name_start_time_is_used_for_rows_without_their_own(rig: Rig) -> None:
    start = tomorrow_at(21, 12)
    name = f"C{USER_ID}_{FLOW_ID}_upload_{start:%d%m%Y%H%M%S}.csv"
    rig.drop(name, csv_text(mobile(1)))
    rig.poll()
    (call,) = rig.phonon.accepted_calls
    assert call["start-time"] == start.isoformat()
    assert call["start-time"].endswith("+05:30")


def test_file_naming_another_account_is_rejected(rig: Rig) -> None:
    name = f"C999_{FLOW_ID}.csv"
    rig.drop(name, csv_text(mobile(1)))
    rig.poll()
    assert rig.listing()["Failure"] == [name]
    assert rig.phonon.accepted_calls == []
    (subject,) = rig.subjects()
    assert subject.startswith(f"Upload failed: {name} — ")
    assert "C999" in subject and f"C{USER_ID}" in subject


def test_unknown_flow_is_rejected(rig: Rig) -> None:
    name = f"C{USER_ID}_Zz9Zz9Zz.csv"
    rig.drop(name, csv_text(mobile(1)))
    rig.poll()
    assert rig.listing()["Failure"] == [name]
    assert "Zz9Zz9Zz" in rig.subjects()[0]
    assert rig.phonon.requests == []


def test_unrecognised_name_goes_to_failure_with_an_email(rig: Rig) -> None:
    rig.drop("calls.xlsx", b"PK\x03\x04 not a call list")
    rig.poll()
    assert rig.listing()["Failure"] == ["calls.xlsx"]
    assert rig.subjects()[0].startswith("Upload failed: calls.xlsx — ")


def test_temporary_and_dot_files_are_left_alone(rig: Rig) -> None:
    for name in (".hidden.csv", f"{NAME}.filepart", "x.part", "y.tmp", "z.crdownload"):
        rig.drop(name, csv_text(mobile(1)))
    (rig.account.upload / "subdir").mkdir()
    before = rig.listing()
    rig.poll()
    assert rig.listing() == before
    assert rig.smtp.messages == [] and rig.phonon.requests == []


def test_partial_policy_triggers_valid_rows_and_writes_errors_file(rig: Rig) -> None:
    rig.drop(NAME, csv_text(mobile(1), "12345", mobile(2)))
    rig.poll()
    assert rig.listing()["Success"] == [NAME, f"{NAME}.errors.csv"]
    errors = (rig.account.success / f"{NAME}.errors.csv").read_text(encoding="utf-8-sig")
    assert errors.splitlines()[0].lower().startswith("line,column,value,reason")
    assert "12345" in errors and ",3," not in errors.splitlines()[0]
    assert len(rig.phonon.accepted_calls) == 2
    assert rig.subjects() == [f"Upload processed: {NAME} — 2 of 3 calls scheduled"]


def test_strict_policy_rejects_the_whole_file(rig: Rig) -> None:
    rig.customer_overrides["row_policy"] = "strict"
    rig.drop(NAME, csv_text(mobile(1), "12345"))
    rig.poll()
    assert rig.listing()["Failure"] == [NAME, f"{NAME}.errors.csv"]
    assert rig.phonon.requests == []


def test_zip_upload_is_one_upload(rig: Rig) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("part1.csv", csv_text(mobile(1), mobile(2)))
        archive.writestr("part2.csv", csv_text(mobile(3)))
    name = f"C{USER_ID}_{FLOW_ID}.zip"
    rig.drop(name, buffer.getvalue())
    rig.poll()
    assert rig.listing()["Success"] == [name]
    assert len(rig.phonon.accepted_calls) == 3
    assert len(rig.smtp.messages) == 1


def test_second_poll_changes_nothing(rig: Rig) -> None:
    rig.drop(NAME, csv_text(mobile(1)))
    rig.poll()
    after_first = rig.listing()
    rig.poll()
    assert rig.listing() == after_first
    assert len(rig.phonon.accepted_calls) == 1 and len(rig.smtp.messages) == 1


def test_same_name_uploaded_again_is_archived_beside_the_first(rig: Rig) -> None:
    rig.drop(NAME, csv_text(mobile(1)))
    rig.poll()
    rig.drop(NAME, csv_text(mobile(2)))
    rig.poll()
    success = rig.listing()["Success"]
    assert len(success) == 2 and NAME in success
    suffixed = next(n for n in success if n != NAME)
    assert suffixed.startswith(f"C{USER_ID}_{FLOW_ID}_2") and suffixed.endswith(".csv")
    # Nothing was overwritten: the first file still holds the first list.
    assert mobile(1) in (rig.account.success / NAME).read_text()


def test_existing_archive_name_is_never_overwritten(rig: Rig) -> None:
    """OpenSSH refuses a rename onto an existing name; we never attempt one."""
    (rig.account.success / NAME).write_text("the customer's own file\n")
    rig.drop(NAME, csv_text(mobile(1)))
    rig.poll()
    assert (rig.account.success / NAME).read_text() == "the customer's own file\n"
    assert len(rig.listing()["Success"]) == 2
    assert rig.listing()["Upload"] == []


def test_duplicate_content_is_rejected_naming_the_earlier_upload(rig: Rig) -> None:
    content = csv_text(mobile(1), mobile(2))
    rig.drop(NAME, content)
    rig.poll()
    rig.drop(f"C{USER_ID}_{FLOW_ID}.CSV", content)
    rig.poll()
    assert len(rig.phonon.accepted_calls) == 2
    failure = rig.listing()["Failure"]
    assert failure == [f"C{USER_ID}_{FLOW_ID}.CSV"]
    assert "already processed" in rig.subjects()[1]


def test_phonon_503_then_success(rig: Rig) -> None:
    rig.phonon.inject("http503")
    rig.drop(NAME, csv_text(mobile(1)))
    rig.poll()
    assert rig.listing()["Success"] == [NAME]
    assert len(rig.phonon.accepted_calls) == 1
    assert len(rig.phonon.requests) == 2


def test_phonon_permanent_error_fails_the_file(rig: Rig) -> None:
    rig.phonon.inject("code212")
    rig.drop(NAME, csv_text(mobile(1)))
    rig.poll()
    assert rig.listing()["Failure"] == [NAME]
    assert len(rig.phonon.requests) == 1
    (subject,) = rig.subjects()
    assert "212" in subject


def test_smtp_down_delays_email_but_never_archiving(rig: Rig) -> None:
    rig.smtp.stop()
    rig.drop(NAME, csv_text(mobile(1)))
    result = rig.poll()
    assert rig.listing()["Success"] == [NAME]
    assert result.emails_pending == 1
    rig.smtp.start()
    # The queued email is due again only after its backoff: run the next pass an hour on.
    with Service(rig.settings(), clock=lambda: datetime.now(UTC) + timedelta(hours=1)) as s:
        s.poll_once()
    assert len(rig.smtp.messages) == 1
    assert rig.subjects() == [f"Upload processed: {NAME} — 1 of 1 call scheduled"]


def test_each_email_goes_out_with_its_file_not_after_the_sweep(rig: Rig) -> None:
    """The sweep hands the email over as soon as its file is done: the first file's email
    has arrived by the time the second file is claimed."""
    first, second = NAME, f"C{USER_ID}_{FLOW_ID}_upload_{tomorrow_at(11):%d%m%Y%H%M%S}.csv"
    rig.drop(first, csv_text(mobile(1)))
    rig.drop(second, csv_text(mobile(2)))
    mailed_at_claim: list[int] = []
    with Service(rig.settings()) as service:
        pipeline = service.accounts["acme"].pipeline
        start = pipeline.start

        def starting(entry: Any) -> Any:
            mailed_at_claim.append(len(rig.smtp.messages))
            return start(entry)

        with mock.patch.object(pipeline, "start", starting):
            result = service.poll_once()
    assert mailed_at_claim == [0, 1]
    assert (result.emails_sent, result.emails_pending) == (2, 0)
    assert len(rig.smtp.messages) == 2


def test_no_secret_in_any_log_line(rig: Rig, capfd: pytest.CaptureFixture[str]) -> None:
    from sftp_watcher.observability.logs import configure_logging, register_secret

    configure_logging("json")
    register_secret(SECRET)
    rig.phonon.inject("code202")  # Invalid Security ID: an error path that logs
    rig.drop(NAME, csv_text(mobile(1)))
    rig.poll()
    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert {"file.claimed", "file.validated", "file.archived"} <= {e["event"] for e in lines}
    assert SECRET not in err


def _state(rig: Rig) -> Store:
    return Store(rig.settings().state_url)


def test_a_straight_run_records_every_step_and_the_names_before_the_move(rig: Rig) -> None:
    """Steps recorded together still show each state; the batch, names and email are kept."""
    rig.drop(NAME, csv_text(mobile(1), "12345"))  # one bad row: an errors file too
    rig.poll()

    store = _state(rig)
    [upload] = store.recent()
    assert [s.state for s in store.steps(upload.id)] == [
        "claiming",
        "claimed",
        "judged",
        "triggered",
        "archived",
        "done",
    ]
    assert (upload.archived_as, upload.errors_file) == (NAME, f"{NAME}.errors.csv")
    (batch,) = store.batches(upload.id)
    assert (batch.status, batch.attempts, batch.code) == ("sent", 1, 200)
    assert store.email_for(upload.id) is not None
    assert rig.listing()["Success"] == [NAME, f"{NAME}.errors.csv"]
    store.close()


def test_a_claim_removed_while_phonon_answers_is_reported_lost_not_stuck(rig: Rig) -> None:
    """The straight run renames without checking first; a missing claim falls back to
    the resume's checks, and the customer still gets the email."""
    rig.drop(NAME, csv_text(mobile(1)))
    with Service(rig.settings()) as service:
        pipeline = service.accounts["acme"].pipeline
        real_send = pipeline.steps.trigger_.send

        def send_then_lose_the_claim(*args: Any, **kwargs: Any) -> Any:
            for claim in rig.account.upload.iterdir():
                claim.unlink()  # an operator cleaning up Upload/ by hand
            return real_send(*args, **kwargs)

        steps = pipeline.steps
        steps.trigger_ = mock.Mock(wraps=steps.trigger_, send=send_then_lose_the_claim)
        service.poll_once()

    assert rig.listing() == {"Upload": [], "Success": [], "Failure": []}
    store = _state(rig)
    [upload] = store.recent()
    assert upload.state == "done"
    assert upload.archived_as == NAME
    store.close()
    assert rig.subjects() == [f"Upload processed: {NAME} — 1 of 1 call scheduled"]
