"""Where the mailbox door stages attachments: ``<spool>/email/<customer id>/`` with the
``Upload/``, ``Success/`` and ``Failure/`` folders the pipeline reads and archives in."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from sftp_watcher.config import CustomerConfig, LocalSourceConfig, Settings
from sftp_watcher.sources.local import LocalSource

CHANNEL = "email"


def spool_root(settings: Settings) -> Path:
    """``email_upload.spool_dir``, else ``spool/`` beside the SQLite state file, else
    ``var/spool``."""
    if settings.email_upload is not None and settings.email_upload.spool_dir is not None:
        return settings.email_upload.spool_dir
    url = make_url(settings.state_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(str(url.database)).parent / "spool"
    return Path("var/spool")


def spool_source(settings: Settings, customer: CustomerConfig) -> LocalSource:
    """The customer's email spool as a source, its folders created when missing."""
    path = spool_root(settings) / CHANNEL / customer.id
    config = LocalSourceConfig(path=path, watch=False)
    for folder in (config.upload_dir, config.success_dir, config.failure_dir):
        (path / folder).mkdir(parents=True, exist_ok=True)
    return LocalSource(customer.id, config)
