"""A web upload before it is scheduled: its names, its start time, its judgement, and the
spooled bytes kept under a preview token (SPEC 12). Pure apart from the spool's files."""

from __future__ import annotations

import json
import re
import secrets
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

from sftp_watcher.calllist import Report
from sftp_watcher.errors import WebError

# An uploaded name is cut to this many bytes (its extension kept), so that the claim name
# and the archived names built from it stay within a file system's 255.
MAX_NAME_BYTES = 150
ROWS_SHOWN = 20
PREVIEW_MAX_AGE_SECONDS = 24 * 3600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
_EXTENSIONS = (".csv", ".zip")


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 32 characters


def is_token(text: str) -> bool:
    return _TOKEN.fullmatch(text) is not None


def base_name(uploaded: str) -> str:
    """The uploaded file's own name: no folders (``../../x.csv`` is ``x.csv``), no control
    characters, at most ``MAX_NAME_BYTES``; a ``.csv`` or ``.zip`` one."""
    name = PurePosixPath(uploaded.replace("\\", "/")).name
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    if not name.lower().endswith(_EXTENSIONS) or name.startswith("."):
        raise WebError("Choose a .csv or .zip file.")
    if len(name.encode()) > MAX_NAME_BYTES:
        stem, extension = name[:-4], name[-4:]
        while len((stem + extension).encode()) > MAX_NAME_BYTES:
            stem = stem[:-1]
        name = stem + extension
    return name


def parse_start_time(text: str, tz: ZoneInfo) -> datetime | None:
    """The form's "Start time": ``datetime-local`` (``2026-02-08T21:12``) or any ISO 8601
    date and time; without an offset it is in the customer's time zone."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise WebError(
            f"Start time {text[:40]!r} is not a date and time (e.g. 2026-02-08T21:12)."
        ) from None
    if len(text) <= 10:  # a date alone: SPEC 5 wants a time of day
        raise WebError("Start time needs a time of day (e.g. 2026-02-08T21:12).")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=tz)
    return moment.astimezone(tz)


def judged_name(user_id: str, flow_id: str, start: datetime | None, original: str) -> str:
    """``C<user_id>_<flow>[_upload_<DDMMYYYYHHMMSS>].<ext>``: the name the judge reads,
    as if the file had been dropped on SFTP under it."""
    when = f"_upload_{start:%d%m%Y%H%M%S}" if start is not None else ""
    return f"C{user_id}_{flow_id}{when}.{original.rsplit('.', 1)[1].lower()}"


@dataclass(frozen=True, slots=True)
class Preview:
    token: str
    customer_id: str
    email: str
    flow_id: str
    original_name: str
    judged_name: str
    size: int
    uploaded_at: str  # ISO 8601, UTC
    start_time: str | None
    outcome: str
    rows_total: int
    rows_valid: int
    rows_rejected: int
    file_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    row_errors: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, token: str, report: Report, **facts: Any) -> Preview:
        return cls(
            token=token,
            outcome=report.outcome.value,
            rows_total=report.rows_total,
            rows_valid=report.rows_valid,
            rows_rejected=report.rows_rejected,
            file_errors=list(report.file_errors),
            warnings=list(report.warnings),
            row_errors=[e.to_json() for e in report.row_errors[:ROWS_SHOWN]],
            **facts,
        )


class PreviewFolder:
    """``<token>.data`` (the bytes) and ``<token>.json`` (the preview) of one customer."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def data_path(self, token: str) -> Path:
        return self.path / f"{token}.data"

    def save(self, preview: Preview, data: bytes) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._prune()
        self.data_path(preview.token).write_bytes(data)
        temp = self.path / f".{preview.token}.json.tmp"
        temp.write_text(json.dumps(asdict(preview)), encoding="utf-8")
        temp.replace(self.path / f"{preview.token}.json")

    def load(self, token: str) -> Preview | None:
        if not is_token(token):
            return None
        try:
            data = json.loads((self.path / f"{token}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return Preview(**data)

    def _prune(self) -> None:
        """Previews never scheduled are forgotten after a day (scheduled ones keep their
        small .json, which answers a replayed confirmation, as long)."""
        horizon = time.time() - PREVIEW_MAX_AGE_SECONDS
        for item in self.path.iterdir():
            try:
                if item.stat().st_mtime < horizon:
                    item.unlink()
            except OSError:
                continue
