"""Upload → preview → schedule through the page, down to Phonon, the spool and the email."""

from __future__ import annotations

import re
import time

from structlog.testing import capture_logs

from sftp_watcher.state.models import FINAL_STATES, UploadState

from .conftest import ACME_EMAIL, ACME_FLOW, call_list, tomorrow_at_ten


def _wait_done(page, upload_id: str) -> object:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        upload = page.service.store.get(upload_id)
        if upload is not None and UploadState(upload.state) in FINAL_STATES:
            return upload
        time.sleep(0.05)
    raise AssertionError("the upload did not finish")


def _wait_mail(smtp_server, count: int) -> None:
    """The email goes out right after the upload is recorded as done."""
    deadline = time.monotonic() + 30
    while len(smtp_server.messages) < count:
        assert time.monotonic() < deadline, "the account holder's email did not come"
        time.sleep(0.05)


def test_preview_then_schedule_calls_archives_and_emails(page, phonon_stub, smtp_server):
    assert page.sign_in().status_code == 303
    answer = page.upload(call_list(3, invalid=1), name="../../x.csv", start_time=tomorrow_at_ten())
    assert answer.status_code == 303
    preview_url = answer.headers["location"]
    html = page.client.get(preview_url).text
    assert "Rows: 4" in html and "Valid: 3" in html and "Rejected: 1" in html
    assert "12ab" in html and "Schedule calls" in html
    assert phonon_stub.requests == []  # nothing sent before confirmation
    confirm = page.schedule(preview_url)
    assert confirm.status_code == 303
    upload_id = confirm.headers["location"].rsplit("/", 1)[1]
    upload = _wait_done(page, upload_id)
    assert upload.channel == "web" and upload.sender == ACME_EMAIL
    assert upload.original_name == "x.csv"
    assert re.fullmatch(rf"C129113_{ACME_FLOW}_upload_\d{{8}}100000\.csv", upload.judged_name)
    assert len(phonon_stub.accepted_calls) == 3
    assert all(c["start-time"].endswith("T10:00:00+05:30") for c in phonon_stub.accepted_calls)
    spool = page.service.settings.spool_dir() / "web" / "acme"
    assert sorted(p.name for p in (spool / "Success").iterdir()) == ["x.csv", "x.csv.errors.csv"]
    assert list((spool / "Upload").iterdir()) == []
    result = page.client.get(f"/uploads/{upload_id}").text
    assert "Upload processed: x.csv — 3 of 4 calls scheduled" in result
    assert 'http-equiv="refresh"' not in result
    _wait_mail(smtp_server, 1)
    assert len(smtp_server.messages) == 1
    errors = page.client.get(f"/uploads/{upload_id}/errors.csv")
    assert errors.status_code == 200 and b"12ab" in errors.content
    listing = page.client.get("/uploads").text
    assert "x.csv" in listing and ">web<" in listing and "Errors file" in listing


def test_confirming_twice_schedules_once(page, phonon_stub, smtp_server):
    page.sign_in()
    preview_url = page.upload(call_list(2)).headers["location"]
    token = page.csrf(preview_url)
    first = page.client.post(
        f"{preview_url}/schedule", data={"csrf_token": token}, follow_redirects=False
    )
    upload_id = first.headers["location"].rsplit("/", 1)[1]
    _wait_done(page, upload_id)
    _wait_mail(smtp_server, 1)
    # The back button and a replayed request: the same upload, nothing sent again.
    again = page.client.post(
        f"{preview_url}/schedule", data={"csrf_token": token}, follow_redirects=False
    )
    assert again.headers["location"] == first.headers["location"]
    assert len(phonon_stub.accepted_calls) == 2
    assert len(smtp_server.messages) == 1
    assert len(page.service.store.recent(customer_id="acme")) == 1


def test_result_page_refreshes_until_the_outcome(page, phonon_stub):
    page.sign_in()
    phonon_stub.inject("timeout", delay=3)
    preview_url = page.upload(call_list(1)).headers["location"]
    upload_id = page.schedule(preview_url).headers["location"].rsplit("/", 1)[1]
    while True:
        html = page.client.get(f"/uploads/{upload_id}").text
        if 'http-equiv="refresh"' not in html:
            break
        assert "Processing" in html
        time.sleep(0.1)
    assert "1 of 1 call scheduled" in html


def test_a_confirmed_upload_left_unfinished_resumes_at_the_next_start(
    make_page, phonon_stub, smtp_server, monkeypatch
):
    from sftp_watcher.service import Service
    from sftp_watcher.web.door import WebDoor

    page = make_page()
    page.sign_in()
    preview_url = page.upload(call_list(2)).headers["location"]
    # The worker never runs: as if the process died right after recording the upload.
    monkeypatch.setattr(WebDoor, "_start", lambda self, customer, upload: None)
    upload_id = page.schedule(preview_url).headers["location"].rsplit("/", 1)[1]
    monkeypatch.undo()
    store = page.service.store
    assert store.get(upload_id).state == UploadState.CLAIMED.value
    # The customer's own account sweeps leave the page's upload to the page.
    for customer in page.service.settings.customers:
        for folder in ("Upload", "Success", "Failure"):
            (customer.source.path / folder).mkdir(parents=True, exist_ok=True)
    with Service(page.service.settings) as service, capture_logs() as logs:
        result = service.poll_once("acme")
    assert not result.unreachable
    assert [e for e in logs if e.get("upload_id") == upload_id] == []
    assert store.get(upload_id).state == UploadState.CLAIMED.value
    assert phonon_stub.requests == []
    page.service.stop()
    again = make_page()
    upload = _wait_done(again, upload_id)
    assert upload.destination == "success" and upload.rows_triggered == 2
    assert len(phonon_stub.accepted_calls) == 2
    _wait_mail(smtp_server, 1)
    assert len(smtp_server.messages) == 1


def test_a_double_click_schedules_once(page, phonon_stub, smtp_server):
    """Two confirmations of one preview at the same moment: one upload, one email."""
    from concurrent.futures import ThreadPoolExecutor

    page.sign_in()
    preview_url = page.upload(call_list(2)).headers["location"]
    token = page.csrf(preview_url)

    def confirm(_: int) -> str:
        answer = page.client.post(
            f"{preview_url}/schedule", data={"csrf_token": token}, follow_redirects=False
        )
        assert answer.status_code == 303
        return str(answer.headers["location"])

    with ThreadPoolExecutor(4) as pool:
        locations = set(pool.map(confirm, range(4)))
    assert len(locations) == 1
    _wait_done(page, locations.pop().rsplit("/", 1)[1])
    _wait_mail(smtp_server, 1)
    assert len(page.service.store.recent(customer_id="acme")) == 1
    assert len(phonon_stub.accepted_calls) == 2
