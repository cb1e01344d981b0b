"""How one replica's accounts are dealt out to its ``processes`` children (SPEC 9).

Each child sweeps a share of the accounts and, on SQLite, flushes only their emails; an
SFTP server's ``max_sessions_per_host`` holds for all the children together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sftp_watcher.config import CustomerConfig, Settings, SftpSourceConfig


@dataclass(frozen=True, slots=True)
class Share:
    """Child ``index``'s accounts (and, on SQLite, their emails), and its part of each
    SFTP server's ``max_sessions_per_host``."""

    index: int
    customers: frozenset[str]
    sessions: Mapping[tuple[str, int], int]  # (host, port) -> this child's session cap

    def owns(self, customer_id: str) -> bool:
        return customer_id in self.customers

    def customer(self, customer: CustomerConfig) -> CustomerConfig:
        """``customer`` as this child runs it: with its part of the server's sessions."""
        source = customer.source
        if not isinstance(source, SftpSourceConfig):
            return customer
        cap = self.sessions[_server(source)]
        return customer.model_copy(
            update={"source": source.model_copy(update={"max_sessions_per_host": cap})}
        )


def shares(settings: Settings) -> list[Share]:
    """The accounts dealt out as evenly as they go, server by server.

    A server's sessions are capped (``max_sessions_per_host``) for all the children
    together, so its accounts go to at most that many children, and the cap is divided
    among them. A restart deals the accounts again: nothing needs the stable division
    of the replicas' rendezvous hashing.
    """
    count = settings.processes
    dealt: list[list[str]] = [[] for _ in range(count)]
    sessions: list[dict[tuple[str, int], int]] = [{} for _ in range(count)]
    groups: dict[tuple[str, int] | str, list[CustomerConfig]] = {}
    for customer in settings.customers:
        source = customer.source
        key = _server(source) if isinstance(source, SftpSourceConfig) else customer.id
        groups.setdefault(key, []).append(customer)
    caps = {key: _session_cap(members) for key, members in groups.items()}
    spreads = {key: min(count, caps[key], len(members)) for key, members in groups.items()}
    # The servers spread over the fewest children first, then the biggest; each account
    # to the chosen child with the fewest accounts so far.
    for key in sorted(groups, key=lambda k: (spreads[k], -len(groups[k]))):
        cap, spread = caps[key], spreads[key]
        children = sorted(range(count), key=lambda i: len(dealt[i]))[:spread]
        for member in groups[key]:
            dealt[min(children, key=lambda i: len(dealt[i]))].append(member.id)
        if isinstance(key, tuple):
            for k, child in enumerate(children):
                sessions[child][key] = cap // spread + (k < cap % spread)
    # No process without accounts (more processes than accounts, or few sessions).
    given = [Share(i, frozenset(dealt[i]), sessions[i]) for i in range(count) if dealt[i]]
    return given or [Share(0, frozenset(), {})]


def _server(source: SftpSourceConfig) -> tuple[str, int]:
    return source.host.lower(), source.port


def _session_cap(members: list[CustomerConfig]) -> int:
    """The sessions one server takes (no cap on a local folder: one per account)."""
    caps = [
        m.source.max_sessions_per_host for m in members if isinstance(m.source, SftpSourceConfig)
    ]
    return min(caps, default=len(members))
