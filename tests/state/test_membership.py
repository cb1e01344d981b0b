"""Replicas divide the accounts through advisory locks PostgreSQL frees when a replica dies."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from sftp_watcher.state.engine import make_engine
from sftp_watcher.state.membership import NAMESPACE, Membership, owner

ACCOUNTS = [f"acct{i:03d}" for i in range(60)]


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def _replica(engine: Engine) -> Membership:
    return Membership(engine, refresh_seconds=0)  # every question reads pg_locks again


@pytest.fixture
def pair(engine: Engine) -> Iterator[tuple[Membership, Membership]]:
    """Two replicas on one database, each holding its slot until the test ends."""
    first, second = _replica(engine), _replica(engine)
    yield first, second
    first.close()
    second.close()


def _owners(*replicas: Membership) -> list[list[Membership]]:
    return [[r for r in replicas if r.owns(account)] for account in ACCOUNTS]


def test_owner_moves_only_the_share_of_a_replica_that_comes_or_goes() -> None:
    before = {a: owner(a, [0, 1]) for a in ACCOUNTS}
    after = {a: owner(a, [0, 1, 2]) for a in ACCOUNTS}

    moved = [a for a in ACCOUNTS if before[a] != after[a]]
    assert moved and all(after[a] == 2 for a in moved), "only the newcomer's share moves"
    assert {a: owner(a, [0, 1]) for a in ACCOUNTS} == before, "the same answer every time"


def test_sqlite_serves_one_process_which_owns_every_account(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    replica = _replica(engine)
    assert all(replica.owns(a) for a in ACCOUNTS)
    assert replica.slot is None
    engine.dispose()


@pytest.mark.postgres
def test_two_replicas_take_one_slot_each_and_divide_the_accounts(
    pair: tuple[Membership, Membership],
) -> None:
    first, second = pair
    owners = _owners(first, second)

    assert {first.slot, second.slot} == {0, 1}
    assert first.live == second.live == frozenset({0, 1})
    assert all(len(o) == 1 for o in owners), "each account has exactly one replica"
    assert 10 < sum(o == [first] for o in owners) < len(ACCOUNTS) - 10, "a fair share each"


@pytest.mark.postgres
def test_a_replica_that_leaves_hands_its_accounts_to_the_others(
    pair: tuple[Membership, Membership],
) -> None:
    first, second = pair
    _owners(first, second)
    first.close()

    assert all(second.owns(a) for a in ACCOUNTS)
    assert second.live == frozenset({second.slot})


@pytest.mark.postgres
def test_a_replica_whose_session_dies_loses_its_slot_and_joins_again(
    engine: Engine, pair: tuple[Membership, Membership]
) -> None:
    first, second = pair
    _owners(first, second)
    with engine.connect() as admin:  # what PostgreSQL does to a dead replica's session
        admin.execute(
            text(
                # Waits (up to 10 s) until the session is gone, and its locks with it.
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_locks"
                " WHERE locktype = 'advisory'"
                " AND classid = :ns AND objid = :slot AND objsubid = 2"
            ),
            {"ns": NAMESPACE, "slot": first.slot},
        )

    assert all(second.owns(a) for a in ACCOUNTS), "the survivor takes every account"
    first.owns(ACCOUNTS[0])  # notices its session is gone
    owners = _owners(first, second)  # and joins again
    assert first.slot is not None and first.live == second.live
    assert len(first.live) == 2
    assert all(len(o) == 1 for o in owners)


def test_without_the_database_every_account_is_swept_and_the_locks_decide() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    replica = _replica(engine)
    try:
        assert all(replica.owns(a) for a in ACCOUNTS[:3])
        assert replica.slot is None
    finally:
        replica.close()
        engine.dispose()
