"""Where call-list files come from: an SFTP server (``sftp``) or a local folder (``local``)."""

from __future__ import annotations

from sftp_watcher.config import LocalSourceConfig, SftpSourceConfig
from sftp_watcher.sources.base import Entry, Folder, Source
from sftp_watcher.sources.local import LocalSource, Watcher, watch_upload
from sftp_watcher.sources.sftp import SftpSource

__all__ = [
    "Entry",
    "Folder",
    "LocalSource",
    "SftpSource",
    "Source",
    "Watcher",
    "source_for",
    "watch_upload",
]


def source_for(customer_id: str, config: SftpSourceConfig | LocalSourceConfig) -> Source:
    """The source a customer's ``source:`` configuration describes (not yet opened)."""
    if isinstance(config, SftpSourceConfig):
        return SftpSource(customer_id, config)
    return LocalSource(customer_id, config)
