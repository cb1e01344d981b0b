"""File names the service gives on a source: claim names, free archive names, temporary names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

from sftp_watcher.errors import RemoteOperationFailed
from sftp_watcher.sources.base import Folder, Source

# Starts with "." so every poller treats a claimed file as not ready, and can never
# match the upload grammar (which starts with "C").
CLAIM_PREFIX = ".sftp-watcher-claim."
CLAIM_SUFFIX = ".inprogress"

# Names that SFTP clients and browsers give a file while it is still being transferred.
TEMPORARY_SUFFIXES = (".filepart", ".part", ".partial", ".tmp", ".crdownload")

# Past this many "_N" candidates something else is wrong (a folder full of copies).
_MAX_CANDIDATES = 1000

# Upload ids: hex from the sweep, door ids such as "web:<token>"; never a dot.
_UPLOAD_ID = re.compile(r"[A-Za-z0-9:_-]+")

# Most file systems and SFTP servers refuse a name over 255 bytes (UTF-8).
MAX_NAME_BYTES = 255
# Ends a claim's embedded name that was cut to fit: no upload name ends with it, so a
# cut claim is never adopted without its record (which holds the full name).
CUT_MARK = "~"


def is_temporary_name(name: str) -> bool:
    """A dot file (claims included) or an in-progress transfer name: never ready (SPEC 2)."""
    return name.startswith(".") or name.lower().endswith(TEMPORARY_SUFFIXES)


def claim_name(upload_id: str, original: str) -> str:
    """The name a file is renamed to while we process it, unique per ``upload_id`` and
    at most 255 bytes: a longer original is cut (on a character boundary) and marked."""
    if not _UPLOAD_ID.fullmatch(upload_id):
        # A dot would make parse_claim_name ambiguous.
        raise ValueError(f"upload id must be letters, digits, ':', '_' and '-': {upload_id!r}")
    if not original or "/" in original:
        raise ValueError(f"not a plain file name: {original!r}")
    name = f"{CLAIM_PREFIX}{upload_id}.{original}{CLAIM_SUFFIX}"
    excess = len(name.encode()) - MAX_NAME_BYTES
    if excess <= 0:
        return name
    room = len(original.encode()) - excess - len(CUT_MARK)
    if room < 1:
        raise ValueError(f"upload id too long for a claim name: {upload_id!r}")
    cut = original.encode()[:room].decode(errors="ignore")
    return f"{CLAIM_PREFIX}{upload_id}.{cut}{CUT_MARK}{CLAIM_SUFFIX}"


def parse_claim_name(name: str) -> tuple[str, str] | None:
    """``(upload_id, original)`` of a claim name, or None for any other name."""
    if not (name.startswith(CLAIM_PREFIX) and name.endswith(CLAIM_SUFFIX)):
        return None
    upload_id, dot, original = name[len(CLAIM_PREFIX) : -len(CLAIM_SUFFIX)].partition(".")
    if not dot or not original or not _UPLOAD_ID.fullmatch(upload_id):
        return None
    return upload_id, original


def candidate_names(desired: str, now: datetime) -> Iterator[str]:
    """SPEC 3's order: ``desired``, then ``_<YYYYMMDDHHMMSS>`` (UTC) before the last
    extension, then that plus ``_2``, ``_3``, ...
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    stem, dot, extension = desired.rpartition(".")
    if not dot or not stem:  # no extension ("README") or only a leading dot (".env")
        stem, extension = desired, ""
    suffix = f".{extension}" if extension else ""
    yield desired
    yield f"{stem}_{stamp}{suffix}"
    for n in range(2, _MAX_CANDIDATES):
        yield f"{stem}_{stamp}_{n}{suffix}"


def free_pair(source: Source, folder: Folder, desired: str, now: datetime) -> str:
    """The first of ``candidate_names`` such that both it and ``<it>.errors.csv`` are
    free in ``folder`` (SPEC 3: the errors file keeps its pair)."""
    for name in candidate_names(desired, now):
        errors = f"{name}.errors.csv"
        if source.exists(folder, name):
            continue
        # A name too long to exist is free (servers answer such a stat with an error).
        if len(errors.encode()) > MAX_NAME_BYTES or not source.exists(folder, errors):
            return name
    raise RemoteOperationFailed(
        f"no free name for {desired!r} in {folder.value}: {_MAX_CANDIDATES} candidates taken",
        customer=source.customer_id,
        path=desired,
    )


def free_name(source: Source, folder: Folder, desired: str, now: datetime) -> str:
    """The first of ``candidate_names`` that does not exist in ``folder``.

    Servers differ on a rename onto an existing name (refused or silently replaced),
    so the target is made free before anything moves; nothing is ever overwritten.
    """
    for name in candidate_names(desired, now):
        if not source.exists(folder, name):
            return name
    raise RemoteOperationFailed(
        f"no free name for {desired!r} in {folder.value}: {_MAX_CANDIDATES} candidates taken",
        customer=source.customer_id,
        path=desired,
    )
