"""The file-name grammar of SPEC 2: what an upload name means, and which names to leave alone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sftp_watcher.errors import FileNameError

# Only the extension is case-insensitive: Windows tools write `.CSV`, but `c129113_...`
# or `_UPLOAD_` is not something any tool produces, so it stays a mistake to report.
UPLOAD_NAME_PATTERN = re.compile(
    r"C(?P<user_id>[0-9]+)_(?P<flow_id>[A-Za-z0-9]+)"
    r"(?:_upload_(?P<start>[0-9]{14}))?"
    r"\.(?P<extension>(?i:csv|zip))",
)

_NOT_READY_SUFFIXES = (".filepart", ".part", ".partial", ".tmp", ".crdownload")
_GRAMMAR = (
    "file name must look like C<UserID>_<FlowID>.csv or "
    "C<UserID>_<FlowID>_upload_<DDMMYYYYHHMMSS>.csv (or .zip), e.g. C129113_o9vJavuB.csv"
)


@dataclass(frozen=True, slots=True)
class UploadName:
    name: str
    user_id: str
    flow_id: str
    start_time: datetime | None  # aware, in the time zone the name was parsed with
    extension: Literal["csv", "zip"]


def is_not_ready_name(name: str) -> bool:
    """Dot files and in-progress transfer names: left alone silently until they are renamed."""
    return name.startswith(".") or name.lower().endswith(_NOT_READY_SUFFIXES)


def parse_upload_name(name: str, tz: ZoneInfo) -> UploadName:
    """Split an upload name into its parts; ``FileNameError`` says what to rename it to."""
    match = UPLOAD_NAME_PATTERN.fullmatch(name)
    if match is None:
        raise FileNameError(_explain_mismatch(name), file=name)
    start = match["start"]
    extension: Literal["csv", "zip"] = "csv" if match["extension"].lower() == "csv" else "zip"
    return UploadName(
        name=name,
        user_id=match["user_id"],
        flow_id=match["flow_id"],
        start_time=None if start is None else _parse_start(start, tz, name),
        extension=extension,
    )


def _parse_start(digits: str, tz: ZoneInfo, name: str) -> datetime:
    try:
        return datetime(
            year=int(digits[4:8]),
            month=int(digits[2:4]),
            day=int(digits[0:2]),
            hour=int(digits[8:10]),
            minute=int(digits[10:12]),
            second=int(digits[12:14]),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise FileNameError(
            f"{digits} in the file name is not a real date and time (DDMMYYYYHHMMSS)", file=name
        ) from exc


def _explain_mismatch(name: str) -> str:
    """The grammar, plus the most likely single mistake when one stands out."""
    from sftp_watcher.calllist.text import quoted  # here: calllist imports this module

    stem, dot, extension = name.rpartition(".")
    if not dot or extension.lower() not in {"csv", "zip"}:
        got = f".{quoted(extension)}" if dot else "no extension"
        return f"only .csv and .zip files are processed (got {got}); {_GRAMMAR}"
    upload = re.fullmatch(r"C[0-9]+_[A-Za-z0-9]+_upload_(.*)", stem)
    if upload is not None:
        return (
            f"the start time {quoted(upload[1])!r} in the file name must be 14 digits "
            f"DDMMYYYYHHMMSS, e.g. 08022026211200; {_GRAMMAR}"
        )
    return _GRAMMAR
