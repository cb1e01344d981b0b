"""The setup-test report: ok, JSON shape and the text checklist (pure)."""

from __future__ import annotations

from sftp_watcher.onboarding import Check, SetupReport, Status


def sample() -> SetupReport:
    return SetupReport.of(
        "acme",
        [
            Check.passed("dns", "sftp.acme.example resolves to 192.0.2.1"),
            Check.failed("tcp", "nothing listens on port 2222", "Check the port / firewall."),
            Check.warning("configuration", "no emails", "Add the account holder's address."),
            Check.skipped("ssh", "no TCP connection to the server"),
        ],
    )


def test_a_report_with_a_failure_is_not_ok_and_warnings_or_skips_do_not_fail_it() -> None:
    assert not sample().ok
    passing = SetupReport.of(
        "acme", [Check.passed("dns", "x"), Check.warning("w", "y"), Check.skipped("s", "z")]
    )
    assert passing.ok


def test_json_has_customer_ok_and_every_check_with_the_four_fields() -> None:
    data = sample().to_json()
    assert data["customer"] == "acme"
    assert data["ok"] is False
    assert [c["status"] for c in data["checks"]] == ["pass", "fail", "warn", "skip"]
    assert data["checks"][1] == {
        "name": "tcp",
        "status": "fail",
        "detail": "nothing listens on port 2222",
        "fix": "Check the port / firewall.",
    }


def test_text_lists_every_check_with_a_mark_and_an_indented_fix_for_failures() -> None:
    lines = sample().render_text().splitlines()
    assert lines[0] == "setup-test for customer acme: 1 check(s) failed, 1 warning(s)"
    body = [line for line in lines[1:] if line]
    assert body[0].startswith("✔ dns")
    assert body[1].startswith("✘ tcp") and "nothing listens on port 2222" in body[1]
    assert body[2] == "    fix: Check the port / firewall."
    assert body[3].startswith("! configuration")
    assert body[5].startswith("- ssh") and "no TCP connection" in body[5]
    assert len(body) == 6  # a skip has no fix line


def test_status_values_are_the_json_words() -> None:
    assert [s.value for s in Status] == ["pass", "fail", "warn", "skip"]


def test_text_escapes_control_characters_of_server_and_customer_text_keeping_lines() -> None:
    report = SetupReport.of(
        "acme",
        [Check.failed("ssh", "banner \x1b]0;owned\x07 \u202eevil", "fix\x9b2J")],
    )
    text = report.render_text()
    assert not any(c in text for c in "\x1b\x07\x9b\u202e")
    assert "banner \\x1b]0;owned\\x07 \\u202eevil" in text
    assert len(text.splitlines()) == 4  # verdict, blank, check, fix
