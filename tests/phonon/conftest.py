"""Shared values for the Phonon tests: flows, records, a fake clock, a client on the stub."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import SecretStr

from sftp_watcher.calllist.report import CallRecord
from sftp_watcher.config import FlowConfig, PhononConfig
from sftp_watcher.phonon.client import PhononClient
from tests.servers.phonon_stub import PhononStub

SECRET = "s3cr3t" + "x" * 58  # a 64-character security id
IST = timezone(timedelta(hours=5, minutes=30))


def make_flow(flow_id: str = "o9vJavuB", **overrides: Any) -> FlowConfig:
    values: dict[str, Any] = {"id": flow_id, "security_id": SecretStr(SECRET), **overrides}
    return FlowConfig(**values)


def make_record(line: int = 2, *, member: str | None = None, name: str = "Asha") -> CallRecord:
    return CallRecord(
        line=line,
        member=member,
        numbers=("918000000000", "918100000000"),
        start_time=datetime(2026, 2, 8, 21, 12, tzinfo=IST),
        variables=(("$flow.key.Name", name),),
    )


@dataclass
class FakeClock:
    """A monotonic clock that moves only when the code under test sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(phonon_stub: PhononStub, clock: FakeClock) -> Iterator[PhononClient]:
    """A client on the stub whose backoff sleeps are recorded, not slept."""
    config = PhononConfig(
        realtime_base_url=phonon_stub.realtime_url,
        bulk_base_url=phonon_stub.bulk_url,
        timeout_seconds=0.5,
    )
    with PhononClient(config, sleep=clock.sleep, clock=clock) as phonon:
        yield phonon
