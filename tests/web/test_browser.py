"""The upload page in a real browser (SPEC 12): headless Chromium driven by Selenium
against `sftp-watcher run` serving the page, with the Phonon stub and an SMTP sink.

Skipped when Chromium or its driver is missing, unless SFTP_WATCHER_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sftp_watcher.calllist.template import template_csv
from sftp_watcher.config import settings_from_mapping

from .conftest import ACME_EMAIL, ACME_FLOW, ACME_PASSWORD, call_list, web_mapping

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.timeout(240)


def _require_browser() -> None:
    if CHROMIUM and DRIVER:
        try:
            import selenium  # noqa: F401
        except ImportError:
            pass
        else:
            return
    if os.environ.get("SFTP_WATCHER_REQUIRE_SERVICES") == "1":
        pytest.fail("chromium, chromedriver and selenium are required (.ci/run installs them)")
    pytest.skip("chromium, chromedriver or selenium missing")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path, phonon_stub: Any, smtp_server: Any) -> Iterator[tuple[str, Any]]:
    """`sftp-watcher run` serving the page; yields its base URL and settings."""
    _require_browser()
    phonon_stub.register_flow(ACME_FLOW, "s" * 64)
    port = _free_port()
    mapping = web_mapping(tmp_path, phonon_stub.realtime_url, smtp_server, port=port)
    for customer in mapping["customers"]:
        for folder in ("Upload", "Success", "Failure"):
            (Path(customer["source"]["path"]) / folder).mkdir(parents=True, exist_ok=True)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "sftp_watcher.cli", "run", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/signin", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, "the page did not come up"
            time.sleep(0.2)
        yield base, settings_from_mapping(mapping)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
            raise
        log.close()
    assert code == 0, (tmp_path / "run.log").read_text()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--window-size=1200,1000",
    ):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def _field(driver: Any, label: str) -> Any:
    from selenium.webdriver.common.by import By

    found = driver.find_element(By.XPATH, f"//label[normalize-space()='{label}']")
    return driver.find_element(By.ID, found.get_attribute("for"))


def _button(driver: Any, text: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.XPATH, f"//button[normalize-space()='{text}']")


def _wait(driver: Any, predicate: Any, what: str, timeout: float = 60) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.2).until(predicate, message=what)


def _shot(driver: Any, folder: Path, name: str) -> None:
    folder.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(folder / f"{name}.png"))


def _body(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def test_sign_in_upload_preview_schedule_template_sign_out(
    served: tuple[str, Any], browser: Any, tmp_path: Path, phonon_stub: Any, smtp_server: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, settings = served
    shots = tmp_path / "screenshots"
    driver = browser
    driver.get(f"{base}/signin")
    _shot(driver, shots, "1-signin")
    _field(driver, "Email").send_keys(ACME_EMAIL)
    _field(driver, "Password").send_keys(ACME_PASSWORD)
    _button(driver, "Sign in").click()
    _wait(driver, lambda d: d.current_url.endswith("/upload"), "the upload page")
    _shot(driver, shots, "2-upload")

    # Through the file input (the script sends it with a progress bar).
    Select(_field(driver, "Flow")).select_by_value(ACME_FLOW)
    chosen = tmp_path / "calls.csv"
    chosen.write_bytes(call_list(3, invalid=1))
    _field(driver, "Call list").send_keys(str(chosen))
    _button(driver, "Check file").click()
    _wait(driver, lambda d: "/preview/" in d.current_url, "the preview")
    text = _body(driver)
    assert "Rows: 4" in text and "Valid: 3" in text and "Rejected: 1" in text
    assert "12ab" in text
    _shot(driver, shots, "3-preview")
    assert phonon_stub.requests == []
    _button(driver, "Schedule calls").click()
    _wait(driver, lambda d: "calls scheduled" in _body(d), "the outcome (meta refresh)")
    assert "Upload processed: calls.csv — 3 of 4 calls scheduled" in _body(driver)
    _shot(driver, shots, "4-result")
    assert len(phonon_stub.accepted_calls) == 3

    # Through a synthetic drop on the element around "Call list".
    driver.find_element(By.LINK_TEXT, "Upload another file").click()
    _wait(driver, lambda d: d.current_url.endswith("/upload"), "the upload page")
    dropped = call_list(2, start=50).decode()
    driver.execute_script(
        """
        const file = new File([arguments[0]], "dropped.csv", {type: "text/csv"});
        const data = new DataTransfer();
        data.items.add(file);
        const zone = document.getElementById("call_list").closest(".drop-zone");
        zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, bubbles: true}));
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
        """,
        dropped,
    )
    assert driver.execute_script("return document.getElementById('call_list').files.length") == 1
    assert "Chosen: dropped.csv" in _body(driver)
    _shot(driver, shots, "5-dropped")
    _button(driver, "Check file").click()
    _wait(driver, lambda d: "/preview/" in d.current_url, "the preview of the dropped file")
    assert "Rows: 2" in _body(driver) and "Valid: 2" in _body(driver)
    assert "dropped.csv" in _body(driver)

    # The template, downloaded.
    driver.get(f"{base}/upload")
    driver.find_element(By.LINK_TEXT, f"Template for {ACME_FLOW}").click()
    target = driver.downloads / f"{ACME_FLOW}.csv"
    _wait(driver, lambda d: target.exists() and target.stat().st_size > 0, "the template")
    assert target.read_bytes() == template_csv(settings.customer("acme").flow(ACME_FLOW))

    # The uploads list, then sign out.
    driver.find_element(By.LINK_TEXT, "Uploads").click()
    _wait(driver, lambda d: d.current_url.endswith("/uploads"), "the uploads page")
    assert "calls.csv" in _body(driver) and "Errors file" in _body(driver)
    _shot(driver, shots, "6-uploads")
    _button(driver, "Sign out").click()
    _wait(driver, lambda d: d.current_url.endswith("/signin"), "the sign-in page")
    driver.get(f"{base}/upload")
    assert driver.current_url.endswith("/signin")
    _shot(driver, shots, "7-signed-out")
    assert len(list(shots.glob("*.png"))) == 7
    deadline = time.monotonic() + 30
    while not smtp_server.messages:
        assert time.monotonic() < deadline, "no email to the account holder"
        time.sleep(0.1)
