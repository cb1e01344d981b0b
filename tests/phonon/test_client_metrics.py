"""The client times every POST to Phonon for the dashboard's latency panel, per host."""

from __future__ import annotations

import pytest

from sftp_watcher.observability import metrics
from sftp_watcher.phonon.client import PhononClient
from sftp_watcher.phonon.requests import build_batches
from tests.phonon.conftest import SECRET, FakeClock, make_flow, make_record
from tests.servers.phonon_stub import PhononStub

DIALER = make_flow("m9vJavuB")
BULK = make_flow("mULKfl0w", type="multicast", host="bulk")


def timed(host: str) -> float:
    name = "sftp_watcher_phonon_request_duration_seconds_count"
    return metrics.REGISTRY.get_sample_value(name, {"host": host}) or 0.0


@pytest.mark.parametrize("flow", [DIALER, BULK], ids=["realtime", "bulk"])
def test_each_post_is_timed_under_its_host(
    flow: object, client: PhononClient, phonon_stub: PhononStub, clock: FakeClock
) -> None:
    phonon_stub.register_flow(DIALER.id, SECRET)
    phonon_stub.register_flow(BULK.id, SECRET, type="multicast")
    host = "bulk" if flow is BULK else "realtime"
    other = "realtime" if flow is BULK else "bulk"
    before, before_other = timed(host), timed(other)
    [batch] = build_batches("up-m", flow, [make_record(2)])  # type: ignore[arg-type]

    client.send(flow, batch, deadline=clock() + 10_000.0)  # type: ignore[arg-type]

    assert timed(host) == before + 1
    assert timed(other) == before_other
