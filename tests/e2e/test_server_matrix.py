"""The pipeline on every real SFTP server the suite knows: OpenSSH, rclone ``serve sftp``
and ProFTPD ``mod_sftp`` (SPEC 3: servers differ on renames onto existing names,
``posix-rename`` and error texts; the service relies on none of these).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter

import pytest

from sftp_watcher.service import Service
from tests.servers.rig import FLOW_ID, USER_ID, Rig, csv_text, mobile, tomorrow_at

pytestmark = pytest.mark.sshd


def _name(hour: int, minute: int = 0) -> str:
    return f"C{USER_ID}_{FLOW_ID}_upload_{tomorrow_at(hour, minute):%d%m%Y%H%M%S}.csv"


def _emails_by_file(rig: Rig) -> Counter[str]:
    ids = {str(m.message["Message-ID"]): str(m.message["Subject"]) for m in rig.smtp.messages}
    return Counter(subject.split(": ", 1)[1].split(" — ")[0] for subject in ids.values())


def test_a_dropped_file_is_called_archived_and_reported(server_rig: Rig) -> None:
    rig = server_rig
    name = _name(9)
    rig.drop(name, csv_text(mobile(1), mobile(2)))
    (sweep,) = rig.poll().sweeps
    assert sweep.error is None, sweep.error
    assert rig.listing() == {"Upload": [], "Success": [name], "Failure": []}
    assert sorted(c["contact-numbers"][0] for c in rig.phonon.accepted_calls) == [
        mobile(1),
        mobile(2),
    ]
    assert rig.subjects() == [f"Upload processed: {name} — 2 of 2 calls scheduled"]
    rig.poll()
    assert len(rig.phonon.accepted_calls) == 2 and len(rig.smtp.messages) == 1


def test_a_name_uploaded_again_is_archived_beside_the_first_never_over_it(
    server_rig: Rig,
) -> None:
    """rclone replaces a rename's existing target: the first archived list must survive."""
    rig = server_rig
    name = _name(10)
    first, second = csv_text(mobile(3)), csv_text(mobile(4), mobile(5))
    rig.drop(name, first)
    rig.poll()
    rig.drop(name, second)
    rig.poll()
    success = rig.listing()["Success"]
    assert len(success) == 2 and name in success, success
    assert (rig.account.success / name).read_text() == first
    (other,) = (n for n in success if n != name)
    assert (rig.account.success / other).read_text() == second
    assert rig.listing()["Upload"] == []
    assert len(rig.phonon.accepted_calls) == 3 and len(rig.smtp.messages) == 2


def test_the_errors_file_keeps_its_pair(server_rig: Rig) -> None:
    """Success/ holds only `<name>.errors.csv` (another upload's report): it is kept, and
    the file with its own report goes under a suffixed name."""
    rig = server_rig
    name = _name(11)
    (rig.account.success / f"{name}.errors.csv").write_text("someone else's report\n")
    rig.drop(name, csv_text(mobile(6), "12345"))
    rig.poll()
    success = rig.listing()["Success"]
    archived = [n for n in success if not n.endswith(".errors.csv")]
    assert len(archived) == 1 and archived[0] != name, success
    assert f"{archived[0]}.errors.csv" in success
    assert (rig.account.success / f"{name}.errors.csv").read_text() == "someone else's report\n"
    assert "12345" in (rig.account.success / f"{archived[0]}.errors.csv").read_text()


def test_two_polls_at_once_claim_each_file_once(server_rig: Rig, pg_url: str) -> None:
    """Two services share the state and poll together: every file is claimed by one."""
    rig = server_rig
    rig.overrides["state_url"] = pg_url
    names = [_name(12, minute) for minute in range(4)]
    for minute, name in enumerate(names):
        rig.drop(name, csv_text(mobile(20 + minute)))
    settings = rig.settings()
    barrier = threading.Barrier(2, timeout=30)
    failures: list[BaseException] = []

    def poll() -> None:
        try:
            with Service(settings) as service:
                barrier.wait()
                service.poll_once()
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert rig.listing() == {"Upload": [], "Success": sorted(names), "Failure": []}
    numbers = Counter(c["contact-numbers"][0] for c in rig.phonon.accepted_calls)
    assert sorted(numbers) == sorted(mobile(20 + m) for m in range(4))
    assert set(numbers.values()) == {1}
    assert _emails_by_file(rig) == Counter(dict.fromkeys(names, 1))


def test_a_poison_file_fails_alone_and_the_good_file_goes_through(server_rig: Rig) -> None:
    rig = server_rig
    poison, good = _name(13), _name(13, 1)
    rig.drop(poison, f"tel1,Name\n{mobile(30)},{'x' * 300_000}\n")
    rig.drop(good, csv_text(mobile(31)))
    rig.poll()
    assert rig.listing() == {"Upload": [], "Success": [good], "Failure": [poison]}
    assert _emails_by_file(rig) == Counter({poison: 1, good: 1})
    assert [c["contact-numbers"][0] for c in rig.phonon.accepted_calls] == [mobile(31)]


def test_a_240_byte_name_is_archived_under_its_name_then_beside_it(server_rig: Rig) -> None:
    rig = server_rig
    name = f"C{USER_ID}_" + "x" * (240 - len(f"C{USER_ID}_") - 4) + ".csv"
    assert len(name.encode()) == 240
    rig.drop(name, csv_text(mobile(40)))
    rig.poll()
    assert rig.listing()["Failure"] == [name]
    rig.drop(name, csv_text(mobile(41)))
    rig.poll()
    failure = rig.listing()["Failure"]
    assert len(failure) == 2 and name in failure
    assert all(len(n.encode()) <= 255 for n in failure)
    assert mobile(40) in (rig.account.failure / name).read_text()
    assert rig.listing()["Upload"] == [] and len(rig.smtp.messages) == 2


@pytest.mark.parametrize("point", ["claim.after_rename", "archive.after_rename"])
def test_killed_at_a_step_then_the_next_poll_finishes_the_file(server_rig: Rig, point: str) -> None:
    """SIGKILL mid-pipeline (`poll-once` in a process of its own), then a poll resumes:
    one call, one archive with its errors file, one email."""
    rig = server_rig
    name = _name(14)
    rig.drop(name, csv_text(mobile(50), "12345"))
    config = rig.write_config()
    env = {**os.environ, "SFTP_WATCHER_CRASH_AT": point}
    killed = subprocess.run(
        [sys.executable, "-m", "sftp_watcher.cli", "poll-once", "--config", str(config)],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode(errors="replace")[-3000:]
    rig.poll()
    assert rig.listing() == {"Upload": [], "Success": [name, f"{name}.errors.csv"], "Failure": []}
    assert [c["contact-numbers"][0] for c in rig.phonon.accepted_calls] == [mobile(50)]
    assert _emails_by_file(rig) == Counter({name: 1})
