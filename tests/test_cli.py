"""The command layer: options before or after the command, exit codes, validate's report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sftp_watcher.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from tests.local_config import local_account_mapping

GOOD = "tel1,Name\n919876543210,Asha\n"


def test_validate_needs_no_configuration_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml here
    path = tmp_path / "C129113_o9vJavuB.csv"
    path.write_text(GOOD + "12345,Bad\n", encoding="utf-8")
    assert main(["validate", str(path), "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["outcome"] == "partial"
    assert (report["rows_total"], report["rows_valid"], report["rows_rejected"]) == (2, 1, 1)
    assert report["row_errors"][0]["line"] == 3
    assert set(report) >= {"file", "file_errors", "warnings", "row_errors"}


def test_validate_exits_1_when_the_file_would_be_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "calls.xlsx"
    path.write_text(GOOD, encoding="utf-8")
    assert main(["validate", str(path)]) == EXIT_FAILED
    assert "rejected" in capsys.readouterr().out.lower()


def test_validate_with_customer_applies_that_customers_user_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "customers:\n"
        "  - id: acme\n"
        "    user_id: '129113'\n"
        "    source: {kind: local, path: /tmp/nowhere}\n"
        "    flows: [{id: o9vJavuB, security_id: x}]\n",
        encoding="utf-8",
    )
    path = tmp_path / "C999_o9vJavuB.csv"
    path.write_text(GOOD, encoding="utf-8")
    # --config after the command name, and before it: both are accepted.
    assert main(["validate", str(path), "--customer", "acme", "--config", str(config)]) == 1
    assert main(["--config", str(config), "validate", str(path), "--customer", "acme"]) == 1
    assert "C999" in capsys.readouterr().out


def test_a_bad_configuration_exits_2_listing_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("workers: 0\nphonon: {timeout_seconds: -1}\n", encoding="utf-8")
    assert main(["poll-once", "--config", str(config)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "workers" in err and "phonon.timeout_seconds" in err


def test_a_missing_configuration_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "--config", str(tmp_path / "absent.yaml")]) == EXIT_USAGE
    assert "not found" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == EXIT_USAGE


def test_log_level_debug_shows_the_polls_that_found_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = local_account_mapping(tmp_path)
    for level, shown in (("INFO", False), ("DEBUG", True)):
        config = tmp_path / f"{level}.yaml"
        config.write_text(yaml.safe_dump({**base, "log_level": level}), encoding="utf-8")
        assert main(["poll-once", "--config", str(config)]) == EXIT_OK
        assert ('"event": "poll.finished"' in capsys.readouterr().err) is shown, level


TEMPLATE_CONFIG = (
    "customers:\n"
    "  - id: acme\n"
    "    user_id: '129113'\n"
    "    source: {kind: local, path: /tmp/nowhere}\n"
    "    flows:\n"
    "      - {id: o9vJavuB, security_id: x, variables: [Name, Amount]}\n"
    "      - {id: Plain123, security_id: x}\n"
)


def test_template_prints_the_flows_header_only(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(TEMPLATE_CONFIG, encoding="utf-8")
    args = ["template", "--customer", "acme", "--config", str(config)]
    assert main([*args, "--flow", "o9vJavuB"]) == EXIT_OK
    assert capsysbinary.readouterr().out == b"tel1,tel2,tel3,Name,Amount,starttime\r\n"
    assert main([*args, "--flow", "Plain123"]) == EXIT_OK
    assert capsysbinary.readouterr().out == b"tel1,tel2,tel3,starttime\r\n"
    assert main([*args, "--flow", "Nope1234"]) == EXIT_USAGE
    assert b"no flow 'Nope1234' (flows: o9vJavuB, Plain123)" in capsysbinary.readouterr().err


@pytest.mark.parametrize("flow", ["o9vJavuB", "Plain123"])
def test_the_template_uploaded_unchanged_calls_nobody_and_breaks_no_file_rule(
    tmp_path: Path,
    capsysbinary: pytest.CaptureFixture[bytes],
    flow: str,
) -> None:
    """Round trip: template, then validate --customer: no records, no other complaint."""
    config = tmp_path / "config.yaml"
    config.write_text(TEMPLATE_CONFIG, encoding="utf-8")
    assert main(["template", "--customer", "acme", "--flow", flow, "--config", str(config)]) == 0
    path = tmp_path / f"C129113_{flow}.csv"
    path.write_bytes(capsysbinary.readouterr().out)
    args = ["validate", str(path), "--customer", "acme", "--config", str(config), "--json"]
    assert main(args) == EXIT_FAILED
    report = json.loads(capsysbinary.readouterr().out)
    assert (report["rows_total"], report["rows_valid"], report["row_errors"]) == (0, 0, [])
    assert report["file_errors"] == ["the file has a header row but no records"]
    assert report["warnings"] == []


def test_validate_with_customer_applies_the_flows_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(TEMPLATE_CONFIG, encoding="utf-8")
    path = tmp_path / "C129113_o9vJavuB.csv"
    path.write_text("tel1,Nmae\n919876543210,Asha\n", encoding="utf-8")
    assert main(["validate", str(path), "--customer", "acme", "--config", str(config)]) == 1
    assert (
        "`Nmae`: not a variable of flow o9vJavuB; did you mean `Name`?" in capsys.readouterr().out
    )
    assert main(["validate", str(path)]) == EXIT_OK  # without --customer: any header goes
