"""The Phonon outbound API (SPEC 6): build requests, send them, or record them (dry run)."""

from sftp_watcher.phonon.client import BatchResult, PhononClient, RetryPolicy, Trigger
from sftp_watcher.phonon.codes import CODES, FlowCheck
from sftp_watcher.phonon.dryrun import DryRunClient, make_client
from sftp_watcher.phonon.requests import (
    Batch,
    build_batches,
    client_identifier,
    empty_check_body,
    endpoint_url,
    host_kind,
)

__all__ = [
    "CODES",
    "Batch",
    "BatchResult",
    "DryRunClient",
    "FlowCheck",
    "PhononClient",
    "RetryPolicy",
    "Trigger",
    "build_batches",
    "client_identifier",
    "empty_check_body",
    "endpoint_url",
    "host_kind",
    "make_client",
]
