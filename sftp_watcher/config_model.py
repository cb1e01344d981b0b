"""The base of every configuration section: strict, immutable, secrets readable from files.

Every secret is a ``SecretStr`` and may also be read from a file by giving
``<key>_file: /path`` instead of ``<key>``, so that deployments can mount secrets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

_SECRET_KEYS = frozenset(
    {"password", "private_key_passphrase", "security_id", "sentry_dsn", "session_secret"},
)

# An email address, loosely: something@domain.tld without spaces or angle brackets.
ADDRESS = r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+"


def read_secret_files(data: Any) -> Any:
    """Replace each ``<secret>_file: PATH`` key by the secret read from that file."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key in _SECRET_KEYS:
        file_key = f"{key}_file"
        path = out.pop(file_key, None)
        if path is None:
            continue
        try:
            out[key] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{file_key}: cannot read {path}: {exc.strerror}") from exc
    return out


def check_upload_deadline(deadline: float | None, retry_budget: float) -> None:
    """The upload deadline must leave room for Phonon's retries (SPEC 3, 6)."""
    if deadline is not None and deadline <= retry_budget:
        raise ValueError(
            f"upload_deadline_seconds: {deadline:g} must exceed "
            f"phonon.retry_budget_seconds ({retry_budget:g})"
        )


class Model(BaseModel):
    """Strict, immutable config section; ``<secret>_file`` keys are read into the secret."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any) -> Any:
        return read_secret_files(data)
