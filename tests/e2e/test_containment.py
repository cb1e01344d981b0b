"""Every ready file ends (SPEC 3): poison files, crafted claims, the errors-file pair and
long names, on the real sshd and on a local folder, with the Phonon stub and SMTP server.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from sftp_watcher import cli
from sftp_watcher.config import LocalSourceConfig
from sftp_watcher.observability.metrics import REGISTRY
from sftp_watcher.sources.names import CLAIM_PREFIX, CLAIM_SUFFIX
from sftp_watcher.state.store import Store
from tests.servers.phonon_stub import PhononStub
from tests.servers.rig import FLOW_ID, SECRET, USER_ID, Rig, csv_text, mobile, tomorrow_at
from tests.servers.smtp import ReceivedMail, SmtpTestServer
from tests.servers.sshd import SftpAccount


def _name(hour: int, minute: int = 0) -> str:
    return f"C{USER_ID}_{FLOW_ID}_upload_{tomorrow_at(hour, minute):%d%m%Y%H%M%S}.csv"


@pytest.fixture(params=["sftp", "local"])
def any_rig(
    request: pytest.FixtureRequest,
    phonon_stub: PhononStub,
    smtp_server: SmtpTestServer,
    tmp_path: Path,
) -> Iterator[Rig]:
    """The same account on the real sshd and as a local folder."""
    phonon_stub.register_flow(FLOW_ID, SECRET)
    if request.param == "sftp":
        account: SftpAccount = request.getfixturevalue("sftp_account")
    else:
        root = tmp_path / "local-account"
        for folder in ("Upload", "Success", "Failure"):
            (root / folder).mkdir(parents=True)
        config = LocalSourceConfig(path=root, watch=False)
        account = SftpAccount(name="local", dir=root, config=config)  # type: ignore[arg-type]
    yield Rig(account, phonon_stub, smtp_server, tmp_path)


def _text(mail: ReceivedMail) -> str:
    body = mail.message.get_body(("plain",))
    return "" if body is None else str(body.get_content())


def _emails_by_file(rig: Rig) -> Counter[str]:
    """Emails per file name quoted in the subject (each file: one Message-ID)."""
    ids = {str(m.message["Message-ID"]): str(m.message["Subject"]) for m in rig.smtp.messages}
    return Counter(subject.split(": ", 1)[1].split(" — ")[0] for subject in ids.values())


def test_poison_files_fail_alone_and_the_good_file_goes_through_in_the_same_poll(
    any_rig: Rig,
) -> None:
    """A row over Phonon's request size raised out of the sweep (no archive, no email, the
    account stuck); a 5,000-digit `tel` header, which once did too, is a file rejection."""
    rig = any_rig
    digits = f"C{USER_ID}_{FLOW_ID}_upload_{tomorrow_at(9):%d%m%Y%H%M%S}.csv"
    huge_row = _name(9, 1)
    good = _name(9, 2)
    rig.drop(digits, "tel" + "1" * 5000 + "\n" + mobile(1) + "\n")
    rig.drop(huge_row, f"tel1,Name\n{mobile(2)},{'x' * 300_000}\n")
    rig.drop(good, csv_text(mobile(3)))
    config = rig.write_config()
    crashed = {"customer": "acme", "outcome": "crashed"}
    before = REGISTRY.get_sample_value("sftp_watcher_files_total", crashed) or 0.0
    assert cli.main(["poll-once", "--config", str(config)]) == 0
    assert REGISTRY.get_sample_value("sftp_watcher_files_total", crashed) == before + 1
    listing = rig.listing()
    assert listing["Upload"] == []
    assert listing["Success"] == [good]
    assert sorted(listing["Failure"]) == sorted([digits, huge_row])
    assert _emails_by_file(rig) == Counter({digits: 1, huge_row: 1, good: 1})
    failed = [m for m in rig.smtp.messages if "could not be processed" in _text(m)]
    assert len(failed) == 1 and "upload id" in _text(failed[0])
    # The 5,000-digit header is refused by the header rules themselves, as a file rejection.
    assert any(
        "is not allowed: the number columns are tel1..tel10" in _text(m) for m in rig.smtp.messages
    )
    assert len(rig.phonon.accepted_calls) == 1
    # A second poll finds nothing left to do: nothing resumed, nothing emailed again.
    assert cli.main(["poll-once", "--config", str(config)]) == 0
    assert len({str(m.message["Message-ID"]) for m in rig.smtp.messages}) == 3


def _claim(upload_id: str, original: str) -> str:
    return f"{CLAIM_PREFIX}{upload_id}.{original}{CLAIM_SUFFIX}"


def test_crafted_claims_are_never_read_and_left_alone(any_rig: Rig, tmp_path: Path) -> None:
    """Claim-like names without a record: a symlink (to another file), a FIFO, a folder
    and a `.` original are left where they are, logged once; a good file goes through."""
    rig = any_rig
    secret = tmp_path / "secret.csv"
    secret.write_text(csv_text(mobile(7)), encoding="utf-8")
    upload = rig.account.upload
    link = upload / _claim(uuid.uuid4().hex, _name(8))
    link.symlink_to(secret)
    fifo = upload / _claim(uuid.uuid4().hex, _name(8, 1))
    os.mkfifo(fifo)
    folder = upload / _claim(uuid.uuid4().hex, _name(8, 2))
    folder.mkdir()
    dot = upload / _claim(uuid.uuid4().hex, ".")
    dot.write_text(csv_text(mobile(8)), encoding="utf-8")
    foreign = upload / _claim(uuid.uuid4().hex, f"C999_{FLOW_ID}.csv")
    foreign.write_text(csv_text(mobile(9)), encoding="utf-8")
    good = _name(8, 3)
    rig.drop(good, csv_text(mobile(10)))
    crafted = sorted(p.name for p in (link, fifo, folder, dot, foreign))
    with capture_logs() as logs:
        first = rig.poll()
        second = rig.poll()
    assert [s.error for s in first.sweeps + second.sweeps] == [None, None]
    listing = rig.listing()
    assert sorted(listing["Upload"]) == crafted
    assert listing["Success"] == [good]
    assert listing["Failure"] == []
    assert len(rig.phonon.accepted_calls) == 1
    assert all(mobile(7) not in _text(m) for m in rig.smtp.messages)
    ignored = Counter(e["claim"] for e in logs if e["event"] == "claim.ignored")
    # Logged once per process (each poll here is a process of its own).
    assert sorted(ignored) == crafted
    assert set(ignored.values()) == {2}


def test_a_claim_without_a_record_of_this_accounts_upload_is_adopted(any_rig: Rig) -> None:
    """A restored state database: a regular file whose embedded name is this account's
    upload name is taken over and processed."""
    rig = any_rig
    name = _name(7)
    (rig.account.upload / _claim(uuid.uuid4().hex, name)).write_text(
        csv_text(mobile(11)), encoding="utf-8"
    )
    rig.poll()
    assert rig.listing() == {"Upload": [], "Success": [name], "Failure": []}
    assert len(rig.smtp.messages) == 1


def test_the_errors_file_keeps_its_pair(any_rig: Rig) -> None:
    """Success/ holds only `<name>.errors.csv` (another upload's report): the file and
    its report are archived under a suffixed name, side by side."""
    rig = any_rig
    name = _name(10)
    (rig.account.success / f"{name}.errors.csv").write_text("someone else's report\n")
    rig.drop(name, csv_text(mobile(12), "12345"))
    rig.poll()
    success = rig.listing()["Success"]
    archived = [n for n in success if not n.endswith(".errors.csv")]
    assert len(archived) == 1
    assert archived[0] != name
    assert f"{archived[0]}.errors.csv" in success
    assert (rig.account.success / f"{name}.errors.csv").read_text() == "someone else's report\n"


def test_a_240_byte_name_is_claimed_archived_under_its_name_and_emailed(any_rig: Rig) -> None:
    """The claim adds 64 bytes: names over 191 bytes could never be claimed."""
    rig = any_rig
    name = f"C{USER_ID}_" + "x" * (240 - len(f"C{USER_ID}_") - 4) + ".csv"
    assert len(name.encode()) == 240
    taken = rig.account.failure / name
    rig.drop(name, csv_text(mobile(13)))
    rig.poll()
    assert rig.listing()["Failure"] == [name]
    assert len(rig.smtp.messages) == 1
    # Again, with the name taken in Failure/: the suffix rule, still within 255 bytes.
    assert taken.exists()
    rig.drop(name, csv_text(mobile(14)))
    rig.poll()
    failure = rig.listing()["Failure"]
    assert len(failure) == 2
    assert all(len(n.encode()) <= 255 for n in failure)
    assert rig.listing()["Upload"] == []
    assert len(rig.smtp.messages) == 2


def test_the_same_list_for_another_start_time_is_a_new_campaign(any_rig: Rig) -> None:
    """SPEC 5: the duplicate key is content, flow and file-name start time."""
    rig = any_rig
    rig.overrides["duplicate_window_hours"] = 24
    text = csv_text(mobile(15))
    morning, evening = _name(10), _name(18)
    rig.drop(morning, text)
    rig.poll()
    rig.drop(evening, text)
    rig.poll()
    assert rig.listing()["Success"] == sorted([morning, evening])
    # The same start time again is a duplicate, and its email says how to repeat it.
    again = rig.drop(morning, text)
    assert again.exists()
    rig.poll()
    assert len(rig.listing()["Failure"]) == 1
    duplicate = _text(rig.smtp.messages[-1])
    assert "_upload_DDMMYYYYHHMMSS" in duplicate
    assert len(rig.phonon.accepted_calls) == 2


def test_a_file_over_the_size_limit_is_reported_by_its_own_name(any_rig: Rig) -> None:
    rig = any_rig
    rig.overrides["limits"] = {"max_file_bytes": 1000}
    name = _name(11)
    rig.drop(name, csv_text(*[mobile(100 + i) for i in range(100)]))
    rig.poll()
    assert rig.listing()["Failure"] == [name]
    store = Store(rig.mapping()["state_url"])
    try:
        [upload] = store.recent()
        assert upload.reason is not None
        assert upload.reason.startswith(f"{name} is ")
        assert CLAIM_PREFIX not in upload.reason
    finally:
        store.close()
