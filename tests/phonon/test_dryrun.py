"""Dry run: requests are recorded as JSON lines, the secret never written, nothing sent."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from sftp_watcher.config import PhononConfig
from sftp_watcher.phonon.client import PhononClient
from sftp_watcher.phonon.dryrun import DryRunClient, make_client
from sftp_watcher.phonon.requests import Batch, build_batches
from tests.phonon.conftest import SECRET, make_flow, make_record
from tests.servers.phonon_stub import PhononStub

WALL = datetime(2026, 2, 8, 10, 0, tzinfo=UTC)


def test_each_request_is_appended_as_one_json_line_without_the_secret(
    tmp_path: Path, phonon_stub: PhononStub
) -> None:
    log = tmp_path / "nested" / "dir" / "requests.jsonl"
    config = PhononConfig(realtime_base_url=phonon_stub.realtime_url, dry_run=True, dry_run_log=log)
    flow = make_flow()
    records = [make_record(line) for line in range(2, 9)]
    batches = build_batches("up1", flow, records, max_calls=4)
    with DryRunClient(config, now=lambda: WALL) as dry:
        results = [dry.send(flow, batch, deadline=0.0) for batch in batches]

    text = log.read_text(encoding="utf-8")
    assert SECRET not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert [e["batch"] for e in entries] == [0, 1]
    assert [e["calls"] for e in entries] == [4, 3]
    first = entries[0]
    assert first["ts"] == "2026-02-08T10:00:00+00:00"
    assert first["url"] == phonon_stub.realtime_url + "/kairos-apis/outbounddialer/create"
    assert first["flow_id"] == flow.id
    assert first["body"]["security-id"] == "***"
    assert first["body"]["calls"] == json.loads(batches[0].body)["calls"]
    digest = hashlib.sha256(batches[0].body).hexdigest()
    assert first["body_sha256"] == digest
    assert results[0].code == 200
    assert results[0].request_id == f"dry-run-{digest[:12]}"
    assert phonon_stub.requests == []  # nothing went out


def test_dry_run_appends_to_an_existing_log(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    log.write_text('{"earlier":true}\n', encoding="utf-8")
    flow = make_flow()
    [batch] = build_batches("up1", flow, [make_record()])
    DryRunClient(PhononConfig(dry_run=True, dry_run_log=log)).send(flow, batch, deadline=0.0)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and lines[0] == '{"earlier":true}'


def test_dry_run_check_flow_is_skipped_not_failed(tmp_path: Path) -> None:
    config = PhononConfig(dry_run=True, dry_run_log=tmp_path / "x.jsonl")
    check = DryRunClient(config).check_flow(make_flow())
    assert check.skipped and check.ok
    assert not (tmp_path / "x.jsonl").exists()


def test_make_client_picks_by_dry_run(tmp_path: Path) -> None:
    with make_client(PhononConfig(dry_run=True, dry_run_log=tmp_path / "x")) as dry:
        assert isinstance(dry, DryRunClient)
    with make_client(PhononConfig()) as real:
        assert isinstance(real, PhononClient)


def test_calls_are_counted_from_the_body_when_client_ids_are_omitted(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    flow = make_flow()
    [batch] = build_batches("up1", flow, [make_record(2), make_record(3)])
    bare = Batch(index=0, body=batch.body, client_ids=(), lines=())
    DryRunClient(PhononConfig(dry_run=True, dry_run_log=log)).send(flow, bare, deadline=0.0)
    assert json.loads(log.read_text(encoding="utf-8"))["calls"] == 2
