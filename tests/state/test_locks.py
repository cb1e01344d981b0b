"""The account lock on SQLite: an operating-system lock beside the database file, held
across processes and freed by the kernel when its holder dies."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
from pathlib import Path

from sftp_watcher.state.locks import AccountLocks, lock_file_name
from sftp_watcher.state.store import Store

HOLDER = """
import sys, time
from sftp_watcher.state.locks import AccountLocks
from sftp_watcher.state.store import Store
store = Store(sys.argv[1])
with AccountLocks(store.engine).hold(sys.argv[2]) as held:
    print("held" if held else "refused", flush=True)
    time.sleep(120)
"""


def _holder(url: str, customer: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, customer], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_another_process_holding_the_account_is_seen_and_its_death_frees_it(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = Store.open(url)
    try:
        holder = _holder(url, "acme")
        locks = AccountLocks(store.engine)
        try:
            with locks.hold("acme") as held:
                assert not held, "a live process holds acme"
            with locks.hold("other") as held:
                assert held, "one account's lock does not stop another's"
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.communicate(timeout=10)
        with locks.hold("acme") as held:
            assert held, "the kernel freed the dead process's lock"
    finally:
        store.close()


def test_two_lock_sets_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        first, second = AccountLocks(store.engine), AccountLocks(store.engine)
        with first.hold("acme") as held:
            assert held
            with second.hold("acme") as elsewhere:
                assert not elsewhere
        with second.hold("acme") as held:
            assert held
    finally:
        store.close()


def test_lock_files_are_private_and_safely_named(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        hostile = "../../etc/passwd\x00" + "x" * 300
        with AccountLocks(store.engine).hold(hostile) as held:
            assert held
        folder = tmp_path / "state.db.locks"
        (created,) = list(folder.iterdir())
        assert created.name == lock_file_name(hostile)
        assert "/" not in created.name and len(created.name) < 100
        assert stat.S_IMODE(created.stat().st_mode) == 0o600
        assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0
        assert lock_file_name("a/b") != lock_file_name("a_b"), "distinct ids, distinct files"
    finally:
        store.close()
