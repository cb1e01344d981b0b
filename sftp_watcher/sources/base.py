"""Where call-list files come from: the interface every source (SFTP, local folder) offers.

Sources only move bytes and names. Deciding which files are ready, which name a claim
or an archived file gets, and when, belongs to the pipeline; the operations here are
the plain SFTPv3 ones every server offers, so behaviour is the same on all of them.
"""

from __future__ import annotations

import stat
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Literal, Self

from sftp_watcher.errors import RemoteFileNotFound


class Folder(StrEnum):
    UPLOAD = "upload"
    SUCCESS = "success"
    FAILURE = "failure"


EntryKind = Literal["file", "dir", "link", "other"]


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    size: int
    mtime: float  # seconds since the epoch, as the server reports it
    kind: EntryKind


def describe_mode(mode: int) -> str:
    """What a file of ``mode`` is, for a customer: "a symbolic link", "a FIFO"..."""
    kinds = (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    )
    return next((text for test, text in kinds if test(mode)), "not a plain file")


class Source(ABC):
    """One customer's three folders. Not thread-safe: one user at a time.

    Errors are the project's own (``sftp_watcher.errors.SourceError`` and subclasses);
    ``RemoteFileNotFound`` is raised only when the server says "no such file".
    """

    customer_id: str

    @abstractmethod
    def open(self) -> None:
        """Connect (or reconnect after a drop). Idempotent while the link is healthy."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection. Idempotent."""

    @abstractmethod
    def list(self, folder: Folder) -> list[Entry]:
        """Every entry of the folder, dot files and directories included (no filtering)."""

    @abstractmethod
    def stat(self, folder: Folder, name: str) -> Entry:
        """One entry; ``RemoteFileNotFound`` if it does not exist."""

    def exists(self, folder: Folder, name: str) -> bool:
        try:
            self.stat(folder, name)
        except RemoteFileNotFound:
            return False
        return True

    @abstractmethod
    def read(self, folder: Folder, name: str, max_bytes: int, *, size: int | None = None) -> bytes:
        """The file's bytes; raises ``FileRejected`` rather than reading past ``max_bytes``.
        ``size``: its size as listed, a hint (the file is read to its end whatever it says).
        """

    @abstractmethod
    def rename(self, folder: Folder, name: str, to_folder: Folder, to_name: str) -> None:
        """Plain rename. The caller has made sure ``to_name`` is free: some servers
        refuse a rename onto an existing name, others silently replace it."""

    @abstractmethod
    def write(self, folder: Folder, name: str, data: bytes) -> None:
        """Create a file with ``data``. The caller has made sure ``name`` is free."""

    @abstractmethod
    def remove(self, folder: Folder, name: str) -> None:
        """Delete a file; ``RemoteFileNotFound`` if it was already gone."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
