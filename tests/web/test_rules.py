"""Every rule of the page at the HTTP level (SPEC 12): CSRF, cookies, the sign-in
slow-down, sessions, another customer's things, sizes, types, zip bombs."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import yaml
from structlog.testing import capture_logs

from sftp_watcher.calllist.template import template_csv
from sftp_watcher.web.csrf import SEED_COOKIE
from sftp_watcher.web.sessions import COOKIE

from .conftest import (
    ACME_FLOW,
    ACME_PASSWORD,
    BETA_EMAIL,
    BETA_FLOW,
    BETA_PASSWORD,
    call_list,
    web_mapping,
)


def _previews(page):
    folder = page.service.settings.spool_dir() / "web" / "acme" / "Previews"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _cookie_headers(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


# -- CSRF ---------------------------------------------------------------------------------


def test_a_post_without_a_valid_csrf_token_is_403_and_changes_nothing(page, phonon_stub):
    page.csrf("/signin")  # the browser's seed cookie
    refused = page.client.post(
        "/signin", data={"email": "ops@acme.example", "password": ACME_PASSWORD}
    )
    assert refused.status_code == 403
    assert COOKIE not in refused.cookies
    page.sign_in()
    assert page.upload(call_list(1), token="").status_code == 403
    assert page.upload(call_list(1), token="0" * 64).status_code == 403
    assert _previews(page) == []
    preview_url = page.upload(call_list(1)).headers["location"]
    assert page.client.post(f"{preview_url}/schedule", data={}).status_code == 403
    # A token of the signed-out session is no good for the next one.
    old = page.csrf(preview_url)
    page.client.post("/signout", data={"csrf_token": old})
    page.sign_in()
    stale = page.client.post(f"{preview_url}/schedule", data={"csrf_token": old})
    assert stale.status_code == 403
    assert page.service.store.recent(customer_id="acme") == []
    assert phonon_stub.requests == []
    assert page.client.post("/signout", data={}).status_code == 403


# -- cookies and sessions -----------------------------------------------------------------


def test_cookies_are_httponly_lax_and_secure_only_over_https(make_page):
    plain = make_page()
    cookies = _cookie_headers(plain.sign_in())
    session = cookies[COOKIE].lower()
    assert "httponly" in session and "samesite=lax" in session and "secure" not in session
    secure = make_page(base_url="https://uploads.example.com")
    first = secure.client.get("/signin")
    seed_header = _cookie_headers(first)[SEED_COOKIE]
    assert "secure" in seed_header.lower() and "httponly" in seed_header.lower()
    seed = seed_header.split(";", 1)[0].split("=", 1)[1]
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', first.text).group(1)
    # Over plain http the client keeps Secure cookies to itself: sent here by hand.
    answer = secure.client.post(
        "/signin",
        data={"email": "ops@acme.example", "password": ACME_PASSWORD, "csrf_token": token},
        headers={"cookie": f"{SEED_COOKIE}={seed}"},
    )
    assert answer.status_code == 303
    cookies = _cookie_headers(answer)
    assert "secure" in cookies[COOKIE].lower() and "httponly" in cookies[COOKIE].lower()


def test_sign_out_ends_the_session_on_the_server(page):
    page.sign_in()
    cookie = page.client.cookies[COOKIE]
    token = page.csrf("/upload")
    out = page.client.post("/signout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    replay = httpx.Client(base_url=page.client.base_url, timeout=30)
    replay.cookies.set(COOKIE, cookie)
    answer = replay.get("/upload", follow_redirects=False)
    replay.close()
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"


def test_a_session_ends_after_eight_idle_hours(make_page):
    now = [datetime(2030, 1, 1, 9, 0, tzinfo=UTC)]
    page = make_page(clock=lambda: now[0])
    page.sign_in()
    now[0] += timedelta(hours=7, minutes=59)
    assert page.client.get("/upload", follow_redirects=False).status_code == 200
    now[0] += timedelta(hours=7, minutes=59)  # used in between: still alive
    assert page.client.get("/upload", follow_redirects=False).status_code == 200
    now[0] += timedelta(hours=8, minutes=1)
    assert page.client.get("/upload", follow_redirects=False).status_code == 303


# -- sign-in ------------------------------------------------------------------------------


def test_a_wrong_sign_in_does_not_say_which_field_was_wrong(page):
    unknown = page.sign_in("nobody@acme.example", ACME_PASSWORD)
    wrong = page.sign_in("ops@acme.example", "not it")
    assert unknown.status_code == wrong.status_code == 401
    assert "Wrong email or password." in unknown.text and "Wrong email or password." in wrong.text
    assert COOKIE not in unknown.cookies and COOKIE not in wrong.cookies


def test_failed_sign_ins_are_slowed_per_email_and_a_right_password_still_works(page):
    for _ in range(5):
        assert page.sign_in("ops@acme.example", "guess").status_code == 401
    assert page.sleeps.delays == []
    page.sign_in("ops@acme.example", "guess")
    page.sign_in("ops@acme.example", "guess")
    assert page.sleeps.delays == [1.0, 2.0]
    for _ in range(6):
        page.sign_in("ops@acme.example", "guess")
    assert page.sleeps.delays[-1] == 10.0  # never more
    answer = page.sign_in("ops@acme.example", ACME_PASSWORD)
    assert answer.status_code == 303 and COOKIE in answer.cookies
    assert len(page.sleeps.delays) == 9  # the right password waited too


def test_failed_sign_ins_are_slowed_per_address(page):
    for n in range(5):
        page.sign_in(f"someone{n}@acme.example", "guess")
    assert page.sleeps.delays == []
    page.sign_in(BETA_EMAIL, BETA_PASSWORD)
    assert page.sleeps.delays == [1.0]


# -- another customer's things --------------------------------------------------------------


def test_another_customers_flows_and_uploads_are_404_like_missing_ones(make_page, phonon_stub):
    acme = make_page()
    acme.sign_in()
    preview_url = acme.upload(call_list(2, invalid=1)).headers["location"]
    token = preview_url.rsplit("/", 1)[1]
    result_url = acme.schedule(preview_url).headers["location"]
    upload_id = result_url.rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    while 'http-equiv="refresh"' in acme.client.get(result_url).text:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with httpx.Client(base_url=acme.client.base_url, timeout=30) as beta:
        other = type(acme)(beta, acme.service, acme.sleeps)
        other.sign_in(BETA_EMAIL, BETA_PASSWORD)
        for path in (
            f"/uploads/{upload_id}",
            f"/uploads/{upload_id}/errors.csv",
            preview_url,
            f"/template/{ACME_FLOW}.csv",
            "/uploads/" + "0" * 32,
            "/template/NoSuchFl.csv",
        ):
            assert beta.get(path).status_code == 404, path
        csrf = other.csrf("/upload")
        assert beta.post(f"/preview/{token}/schedule", data={"csrf_token": csrf}).status_code == 404
        assert other.upload(call_list(1), flow=ACME_FLOW).status_code == 404
        assert upload_id not in beta.get("/uploads").text
        assert f'value="{ACME_FLOW}"' not in beta.get("/upload").text
        assert f'value="{BETA_FLOW}"' in beta.get("/upload").text
    assert len(acme.service.store.recent(customer_id="acme")) == 1
    assert acme.service.store.recent(customer_id="beta") == []


# -- sizes, types, archives ------------------------------------------------------------------


def test_a_file_over_the_limit_is_413_with_the_limit_stated(page):
    page.sign_in()
    limit = page.service.settings.limits.max_file_bytes
    answer = page.upload(b"tel1\n" + b"9" * limit)
    assert answer.status_code == 413
    assert f"{limit:,} bytes" in answer.text
    assert _previews(page) == []


def test_an_oversize_body_is_not_read_past_the_limit(page):
    """Driven at the ASGI level: the app pulls no more than the limit (and the form's
    small allowance) out of a body that would go on for 100 MB, and nothing at all when
    the declared length is over."""
    page.sign_in()
    app = page.service.app
    csrf = page.csrf("/upload")
    chunk = 64 * 1024
    consumed = 0
    boundary = b"XyZ"
    head = (
        b'--XyZ\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
        + csrf.encode()
        + b'\r\n--XyZ\r\nContent-Disposition: form-data; name="call_list"; '
        b'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n'
    )

    async def receive() -> dict[str, object]:
        nonlocal consumed
        body = head if consumed == 0 else b"9" * chunk
        consumed += len(body)
        return {"type": "http.request", "body": body, "more_body": consumed < 100 * 2**20}

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    cookies = "; ".join(f"{k}={v}" for k, v in page.client.cookies.items())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/upload",
        "raw_path": b"/upload",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"multipart/form-data; boundary=" + boundary),
            (b"cookie", cookies.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    limit = page.service.settings.limits.max_file_bytes
    assert limit < consumed <= limit + 16 * 1024 + chunk
    assert _previews(page) == []
    consumed, sent = 0, []
    declared = [*scope["headers"], (b"content-length", str(100 * 2**20).encode())]
    asyncio.run(app({**scope, "headers": declared}, receive, send))
    assert sent[0]["status"] == 413 and consumed == 0


def test_only_csv_and_zip_and_names_lose_their_folders(page):
    page.sign_in()
    for name in ("calls.xlsx", "calls.csv.exe", ".csv", "noextension"):
        answer = page.upload(call_list(1), name=name)
        assert answer.status_code == 400, name
        assert "Choose a .csv or .zip file." in answer.text
    answer = page.upload(call_list(1), name="..\\..\\evil.csv")
    html = page.client.get(answer.headers["location"]).text
    assert "<h1>evil.csv</h1>" in html
    assert _previews(page)  # kept under its token only
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}\.(data|json)", n) for n in _previews(page))


def test_a_zip_bomb_is_rejected_in_the_preview_without_inflating_it(page):
    page.sign_in()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("calls.csv", b"tel1\n" + b"0" * (20 * 2**20))
    answer = page.upload(buffer.getvalue(), name="bomb.zip")
    html = page.client.get(answer.headers["location"]).text
    assert "Rows: 0" in html and "Schedule calls" not in html
    assert "Nothing would be scheduled" in html
    assert re.search(r"ratio|uncompressed|larger", html)


def test_a_bad_start_time_is_said_on_the_form(page):
    page.sign_in()
    answer = page.upload(call_list(1), start_time="08/02/2026 21:12")
    assert answer.status_code == 400
    assert "is not a date and time" in answer.text
    past = page.upload(call_list(1), start_time="2020-01-01T10:00")
    html = page.client.get(past.headers["location"]).text
    assert "Schedule calls" not in html


def test_the_template_download(page, tmp_path, phonon_stub, smtp_server):
    page.sign_in()
    answer = page.client.get(f"/template/{ACME_FLOW}.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == f'attachment; filename="{ACME_FLOW}.csv"'
    flow = page.service.settings.customer("acme").flow(ACME_FLOW)
    assert answer.content == template_csv(flow)
    # Byte-identical to `sftp-watcher template`, run on the same configuration.
    config = tmp_path / "template-config.yaml"
    config.write_text(yaml.safe_dump(web_mapping(tmp_path, phonon_stub.realtime_url, smtp_server)))
    command = ["template", "--config", str(config), "--customer", "acme", "--flow", ACME_FLOW]
    printed = subprocess.run(
        [sys.executable, "-m", "sftp_watcher.cli", *command],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert printed.stdout == answer.content


def test_page_requests_are_logged_with_the_web_channel(page):
    with capture_logs() as logs:
        page.client.get("/signin")
        # The line is written once the answer has gone out: wait for it (bounded).
        deadline = time.monotonic() + 30
        while not any(e["event"] == "web.request" for e in logs) and time.monotonic() < deadline:
            time.sleep(0.02)
    requests = [e for e in logs if e["event"] == "web.request"]
    assert requests and requests[0]["channel"] == "web" and requests[0]["path"] == "/signin"


def test_signed_out_pages_send_to_sign_in(page):
    for path in ("/upload", "/uploads", f"/template/{ACME_FLOW}.csv"):
        answer = page.client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    assert SEED_COOKIE in page.client.get("/signin").cookies


def test_every_signed_in_page_links_uploads_and_sign_out(page):
    page.sign_in()
    assert page.client.get("/signin", follow_redirects=False).headers["location"] == "/upload"
    for path in ("/upload", "/uploads", "/uploads/nothing", "/no/such/page"):
        html = page.client.get(path).text
        assert '<a href="/uploads">Uploads</a>' in html, path
        assert ">Sign out</button>" in html, path
