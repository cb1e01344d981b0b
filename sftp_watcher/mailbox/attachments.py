"""A message's attachments: which are call lists, under which safe name, carrying which
start time, and their bytes, decoded only when the encoded size allows (SPEC 4, 11)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from sftp_watcher.config import CustomerConfig, FlowConfig
from sftp_watcher.naming import UPLOAD_NAME_PATTERN

_START_NAME = re.compile(r"upload_(?P<start>[0-9]{14})\.(?P<extension>(?i:csv|zip))")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A claim name adds about 65 bytes to the original; 255 bytes is the limit of a file name.
_MAX_NAME_BYTES = 150
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Attachment:
    """One attached file, not decoded yet."""

    position: int  # 1-based among the message's leaf parts: part of the upload's identity
    name: str  # the base name, never a path
    part: Message

    @property
    def is_call_list(self) -> bool:
        return self.name.lower().endswith((".csv", ".zip"))

    def least_size(self) -> int:
        """The fewest bytes the attachment can decode to, from its encoded length alone."""
        payload = self.part.get_payload()
        text = payload if isinstance(payload, str) else ""
        encoding = str(self.part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding == "base64":
            return max(0, len(_WHITESPACE.sub("", text)) * 3 // 4 - 2)
        if encoding == "quoted-printable":
            return len(text) // 3  # "=XX" is the densest an encoded byte gets
        return len(text)

    def decode(self) -> bytes:
        data = self.part.get_payload(decode=True)
        return data if isinstance(data, bytes) else b""


def attachments(message: Message) -> list[Attachment]:
    """The parts that carry a file name, in the message's order."""
    found: list[Attachment] = []
    position = 0
    for part in message.walk():
        if part.is_multipart():
            continue
        position += 1
        raw = part.get_filename()
        if raw is None:
            continue
        found.append(Attachment(position, safe_name(raw, position), part))
    return found


def safe_name(raw: str, position: int) -> str:
    """The base name of ``raw`` (``../../x.csv`` is ``x.csv``), without control characters,
    at most 150 bytes (the extension kept); ``attachment-<position>`` when nothing is left."""
    base = _CONTROL.sub("", raw).replace("\\", "/").rsplit("/", 1)[-1].strip()
    if base in {"", ".", ".."}:
        return f"attachment-{position}"
    if len(base.encode()) > _MAX_NAME_BYTES:
        stem, dot, extension = base.rpartition(".")
        suffix = f".{extension}" if dot and len(extension) <= 8 else ""
        room = _MAX_NAME_BYTES - len(suffix.encode())
        stem = (stem if suffix else base).encode()[:room].decode(errors="ignore")
        base = stem + suffix
    return base.lstrip(".") or f"attachment-{position}"


def judged_name(name: str, customer: CustomerConfig, flow: FlowConfig) -> tuple[str, str | None]:
    """The name the judge reads for attachment ``name`` sent to ``flow``'s address, and a
    problem that rejects the attachment (None when there is none).

    ``upload_<DDMMYYYYHHMMSS>.csv`` carries the start time; a name of the SFTP form must
    name this customer and this flow, its start time counting the same way; any other
    name has no start time.
    """
    extension = name.rpartition(".")[2].lower()
    own = f"C{customer.user_id}_{flow.id}"
    start = _START_NAME.fullmatch(name)
    if start is not None:
        return f"{own}_upload_{start['start']}.{extension}", None
    sftp = UPLOAD_NAME_PATTERN.fullmatch(name)
    if sftp is None:
        return f"{own}.{extension}", None
    if sftp["user_id"] != customer.user_id or sftp["flow_id"] != flow.id:
        problem = (
            f"the file name names C{sftp['user_id']}_{sftp['flow_id']}, but it was sent to "
            f"the address of flow {flow.id} ({own}); rename it or send it to that flow"
        )
        return name, problem
    return name, None
