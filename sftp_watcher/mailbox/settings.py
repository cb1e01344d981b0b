"""The email channel's configuration (SPEC 11): ``email_upload`` and its mailbox."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, FilePath, SecretStr, model_validator

from sftp_watcher.config_model import ADDRESS as _ADDRESS
from sftp_watcher.config_model import Model as _Model


class _Flow(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def email_address(self) -> str | None: ...


class _Customer(Protocol):
    """What the address check reads of a customer (``config.CustomerConfig``)."""

    @property
    def id(self) -> str: ...
    @property
    def flows(self) -> Sequence[_Flow]: ...


class ImapConfig(_Model):
    """The mailbox the email channel reads (SPEC 11)."""

    host: str
    port: int = Field(993, gt=0, lt=65536)
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str
    password: SecretStr
    folder: str = "INBOX"
    timeout_seconds: float = Field(30, gt=0)
    # PEM certificates to trust instead of the system's; the name is verified either way.
    ca_file: FilePath | None = None
    # An IDLE is ended and re-issued after this long (RFC 2177 asks for less than 29 min).
    idle_seconds: float = Field(300, gt=0, le=1740)


class EmailUploadConfig(_Model):
    """SPEC 11: absent or null turns the channel off."""

    address: str = Field(pattern=f"^{_ADDRESS}$")
    imap: ImapConfig
    authserv_id: str | None = None
    require_authenticated_sender: bool = True
    # Attachments are staged here (<spool>/email/<customer>/); null: beside the state db.
    spool_dir: Path | None = None
    # How often the mailbox is searched when the server has no IDLE; null: the top level's.
    poll_interval_seconds: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _trust_needs_an_authserv_id(self) -> EmailUploadConfig:
        if self.require_authenticated_sender and not self.authserv_id:
            raise ValueError(
                "authserv_id: required with require_authenticated_sender "
                "(the mail server whose Authentication-Results header to trust)"
            )
        return self


def check_flow_addresses(upload: EmailUploadConfig | None, customers: Sequence[_Customer]) -> None:
    """A flow address names one flow, compared ignoring case (SPEC 11): two flows using
    ``<local>+<FlowID>`` may not have ids differing only in case, anywhere."""
    if upload is None:
        return
    local, _, domain = upload.address.rpartition("@")
    seen: dict[str, str] = {}
    for customer in customers:
        for flow in customer.flows:
            where = f"{customer.id}/{flow.id}"
            address = (flow.email_address or f"{local}+{flow.id}@{domain}").lower()
            if address in seen:
                raise ValueError(
                    f"customers: flows {seen[address]} and {where} have the same email "
                    f"address {address} (compared ignoring case; give one email_address)"
                )
            seen[address] = where
