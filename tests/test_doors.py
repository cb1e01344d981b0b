"""The door contract: a door stages an item in a spool folder read through a LocalSource
and hands it to the same Pipeline (``enter`` then ``run``), exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from sftp_watcher.config import LocalSourceConfig, settings_from_mapping
from sftp_watcher.phonon import make_client
from sftp_watcher.pipeline import Pipeline
from sftp_watcher.sources.base import Folder
from sftp_watcher.sources.local import LocalSource
from sftp_watcher.sources.names import claim_name
from sftp_watcher.state.models import Channel, UploadState
from sftp_watcher.state.store import Store
from tests.servers.phonon_stub import PhononStub
from tests.servers.rig import FLOW_ID, SECRET, USER_ID, csv_text, mobile, tomorrow_at


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    root = tmp_path / "spool" / "email" / "acme"
    for folder in ("Upload", "Success", "Failure"):
        (root / folder).mkdir(parents=True)
    return root


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _pipeline(phonon: PhononStub, spool: Path, store: Store, tmp_path: Path) -> Pipeline:
    phonon.register_flow(FLOW_ID, SECRET)
    settings = settings_from_mapping(
        {
            "state_url": store.url,
            "metrics_port": None,
            "phonon": {
                "realtime_base_url": phonon.realtime_url,
                "bulk_base_url": phonon.bulk_url,
                "timeout_seconds": 2,
                "retry_budget_seconds": 8,
            },
            "email": {"backend": "file", "file_dir": str(tmp_path / "outbox")},
            "customers": [
                {
                    "id": "acme",
                    "user_id": USER_ID,
                    "emails": ["ops@acme.example"],
                    "source": {"kind": "local", "path": str(spool), "watch": False},
                    "flows": [{"id": FLOW_ID, "type": "dialer", "security_id": SECRET}],
                }
            ],
        }
    )
    [customer] = settings.customers
    source = LocalSource(customer.id, LocalSourceConfig(path=spool, watch=False))
    trigger = make_client(settings.phonon)
    return Pipeline(settings, customer, source, store, trigger, channel=Channel.EMAIL.value)


def test_a_staged_door_item_entered_twice_is_processed_once(
    phonon_stub: PhononStub, spool: Path, store: Store, tmp_path: Path
) -> None:
    pipeline = _pipeline(phonon_stub, spool, store, tmp_path)
    upload_id = uuid.uuid5(uuid.NAMESPACE_URL, "email:acme:1:7:0").hex
    attachment = "upload_08022027211200.csv"
    judged = f"C{USER_ID}_{FLOW_ID}_upload_{tomorrow_at(10):%d%m%Y%H%M%S}.csv"
    data = csv_text(mobile(1), mobile(2)).encode()
    (spool / "Upload" / claim_name(upload_id, attachment)).write_bytes(data)
    first = pipeline.enter(
        upload_id,
        attachment,
        size=len(data),
        uploaded_at=None,
        judged_name=judged,
        sender="ops@acme.example",
    )
    again = pipeline.enter(upload_id, attachment, size=len(data), uploaded_at=None)
    assert again.id == first.id
    assert again.state == UploadState.CLAIMED
    # An account's sweep never resumes a door's upload; the door's own channel does.
    assert store.unfinished("acme") == []
    assert [u.id for u in store.unfinished("acme", channels=(Channel.EMAIL,))] == [upload_id]
    done = pipeline.run(again)
    assert done.state == UploadState.DONE
    assert pipeline.run(store.get(upload_id)).state == UploadState.DONE  # type: ignore[arg-type]
    assert sorted(p.name for p in (spool / "Success").iterdir()) == [attachment]
    assert list((spool / "Upload").iterdir()) == []
    assert len(phonon_stub.accepted_calls) == 2
    recorded = store.get(upload_id)
    assert recorded is not None
    assert (recorded.channel, recorded.sender, recorded.judged_name) == (
        Channel.EMAIL,
        "ops@acme.example",
        judged,
    )
    assert recorded.original_name == attachment
    assert store.email_for(upload_id) is not None
    assert store.pending_email_count() == 1


def test_a_long_attachment_name_is_staged_and_processed(
    phonon_stub: PhononStub, spool: Path, store: Store, tmp_path: Path
) -> None:
    pipeline = _pipeline(phonon_stub, spool, store, tmp_path)
    attachment = "é" * 120 + ".csv"  # 244 bytes
    upload_id = uuid.uuid4().hex
    data = csv_text(mobile(3)).encode()
    (spool / "Upload" / claim_name(upload_id, attachment)).write_bytes(data)
    upload = pipeline.enter(upload_id, attachment, size=len(data), uploaded_at=None)
    assert pipeline.run(upload).state == UploadState.DONE
    assert [p.name for p in (spool / "Failure").iterdir()] == [attachment]


def test_an_upload_moved_on_by_another_process_is_left_to_it_quietly(
    phonon_stub: PhononStub, spool: Path, store: Store, tmp_path: Path
) -> None:
    """Two processes on one upload: the one whose record finds it moved on stops for that
    upload (``upload.taken_over``), without an error and without calling anyone again."""
    pipeline = _pipeline(phonon_stub, spool, store, tmp_path)
    upload_id = uuid.uuid4().hex
    name = f"C{USER_ID}_{FLOW_ID}_upload_{tomorrow_at(12):%d%m%Y%H%M%S}.csv"
    data = csv_text(mobile(4)).encode()
    (spool / "Upload" / claim_name(upload_id, name)).write_bytes(data)
    staged = pipeline.enter(upload_id, name, size=len(data), uploaded_at=None)
    # Another process judged it meanwhile: this one's judgement cannot be recorded.
    store.advance(upload_id, UploadState.JUDGED, now=staged.created_at, batches=[(b"{}", 1)])
    with capture_logs() as logs:
        result = pipeline.run(staged)
    assert result.state == UploadState.JUDGED
    assert [e["event"] for e in logs if e["log_level"] == "info"][-1] == "upload.taken_over"
    assert not [e for e in logs if e["log_level"] == "error"]
    assert phonon_stub.accepted_calls == []
    # Once the other process has finished it, running it again is a no-op too.
    store.advance(upload_id, UploadState.ABANDONED, now=staged.created_at)
    with capture_logs() as logs:
        assert pipeline.run(staged).state == UploadState.ABANDONED
    assert [e["event"] for e in logs] == ["upload.taken_over"]


def test_a_file_gone_before_its_claim_is_recorded_abandoned(
    phonon_stub: PhononStub, spool: Path, store: Store, tmp_path: Path
) -> None:
    pipeline = _pipeline(phonon_stub, spool, store, tmp_path)
    name = f"C{USER_ID}_{FLOW_ID}.csv"
    path = spool / "Upload" / name
    path.write_text(csv_text(mobile(5)), encoding="utf-8")
    [entry] = pipeline.source.list(Folder.UPLOAD)
    upload = pipeline.start(entry)
    path.unlink()  # the customer deleted it
    assert pipeline.run(upload).state == UploadState.ABANDONED
    recorded = store.get(upload.id)
    assert recorded is not None
    assert (recorded.state, recorded.reason) == (UploadState.ABANDONED, "file vanished")
    assert store.unfinished("acme", channels=(Channel.EMAIL,)) == []
