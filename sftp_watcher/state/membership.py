"""Which `run` replica sweeps which account, so that replicas divide the accounts.

Each replica on PostgreSQL holds one advisory lock in a namespace of its own, its
"slot", on a connection it keeps for its lifetime; PostgreSQL lists the held locks in
``pg_locks``, so every replica sees which slots are alive, and a replica that dies loses
its lock with its session. An account belongs to the live slot that ranks first for it
(rendezvous hashing: when a replica comes or goes, only its share of the accounts
moves). Ownership only saves work: idle sweeps and SFTP sessions are not repeated
by every replica. The account lock (``state.locks``) still keeps two replicas with
different views of the membership, for the moment it changes, off one account.

SQLite serves one process: it owns every account.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from contextlib import suppress

import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger("sftp_watcher.membership")

# The first key of the two-key advisory lock form; account locks use the one-key form,
# so the two never meet. Any number would do: this one spells "SFTW".
NAMESPACE = 0x53465457
MAX_SLOTS = 1024

_TAKE = text("SELECT pg_try_advisory_lock(:ns, :slot)")
_GIVE = text("SELECT pg_advisory_unlock(:ns, :slot)")
_LIVE = text(
    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND classid = :ns AND objsubid = 2"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def owner(customer_id: str, slots: Iterable[int]) -> int:
    """The slot an account belongs to among ``slots`` (rendezvous hashing)."""
    return max(slots, key=lambda slot: hashlib.sha256(f"{slot}:{customer_id}".encode()).digest())


class Membership:
    """This replica's slot and the live ones, refreshed every ``refresh_seconds``."""

    def __init__(self, engine: Engine, *, refresh_seconds: float) -> None:
        self._engine = engine
        self._refresh_seconds = refresh_seconds
        self._shared = engine.dialect.name == "postgresql"
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._slot: int | None = None
        self._live: frozenset[int] = frozenset()
        self._owners: dict[str, int] = {}
        self._checked_at = float("-inf")

    @property
    def slot(self) -> int | None:
        return self._slot

    @property
    def live(self) -> frozenset[int]:
        return self._live

    def owns(self, customer_id: str) -> bool:
        """Whether this replica should sweep the account now. True whenever the
        membership cannot be read: the account lock alone then keeps sweeps apart."""
        if not self._shared:
            return True
        with self._lock:
            if time.monotonic() - self._checked_at >= self._refresh_seconds:
                self._refresh()
            if self._slot is None or self._slot not in self._live:
                return True
            if customer_id not in self._owners:
                self._owners[customer_id] = owner(customer_id, self._live)
            return self._owners[customer_id] == self._slot

    def close(self) -> None:
        """Leave: the slot is given back at once, so the other replicas take this one's
        accounts at their next refresh (a closed session frees it only once its backend
        has noticed and ended)."""
        with self._lock:
            if self._connection is not None and self._slot is not None:
                with suppress(SQLAlchemyError):  # a dead session frees it anyway
                    self._connection.execute(_GIVE, {"ns": NAMESPACE, "slot": self._slot})
            self._drop_connection()

    def _refresh(self) -> None:
        self._checked_at = time.monotonic()
        try:
            if self._connection is None or self._connection.closed:
                self._join()
            if self._connection is None:
                return  # every slot taken: sweep everything, the account locks decide
            rows = self._connection.execute(_LIVE, {"ns": NAMESPACE}).scalars()
            live = frozenset(int(slot) for slot in rows)
        except SQLAlchemyError as exc:
            # The database is out of reach: the sweeps will say so. Join again later.
            log.debug("replica.membership_unknown", error=str(exc))
            self._drop_connection()
            return
        if self._slot not in live:
            # Our session ended (the server restarted) while the connection looked alive.
            self._drop_connection()
            return
        if live != self._live:
            log.info("replica.members", slot=self._slot, replicas=len(live))
            self._live = live
            self._owners = {}

    def _join(self) -> None:
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            for slot in range(MAX_SLOTS):
                if connection.execute(_TAKE, {"ns": NAMESPACE, "slot": slot}).scalar():
                    self._connection, self._slot = connection, slot
                    log.info("replica.joined", slot=slot)
                    return
        except BaseException:
            connection.close()
            raise
        connection.close()
        log.warning("replica.no_slot", max_slots=MAX_SLOTS)

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        self._slot = None
        self._live = frozenset()
        self._owners = {}
        if connection is not None:
            # Closed for good, not returned to the pool: ending the session frees the slot.
            connection.invalidate()
            connection.close()
