"""Whose is a message: its recipients name a flow, its From must be an allowed sender."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses, parseaddr

from sftp_watcher.config import CustomerConfig, FlowConfig, Settings

# The headers a flow address may arrive in (Delivered-To/X-Original-To: a Bcc or an alias).
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")


@dataclass(frozen=True)
class FlowAddress:
    customer: CustomerConfig
    flow: FlowConfig


def flow_addresses(settings: Settings) -> dict[str, FlowAddress]:
    """Every configured flow's upload address, lower-cased: ``email_address`` when the
    flow sets one, else ``<local>+<FlowID>@<domain>`` of ``email_upload.address``."""
    if settings.email_upload is None:
        return {}
    local, _, domain = settings.email_upload.address.rpartition("@")
    found: dict[str, FlowAddress] = {}
    for customer in settings.customers:
        for flow in customer.flows:
            address = flow.email_address or f"{local}+{flow.id}@{domain}"
            found[address.lower()] = FlowAddress(customer, flow)
    return found


def recipients(message: Message) -> list[str]:
    """The addresses of the recipient headers, lower-cased, in header order."""
    values: list[str] = []
    for header in RECIPIENT_HEADERS:
        values.extend(str(v) for v in message.get_all(header, []))
    return [address.lower() for _name, address in getaddresses(values) if "@" in address]


def route(message: Message, addresses: dict[str, FlowAddress]) -> FlowAddress | None:
    """The flow of the first recipient that is a flow address, or None."""
    for address in recipients(message):
        if address in addresses:
            return addresses[address]
    return None


def sender_of(message: Message) -> str | None:
    """The one From address, lower-cased; None when missing or more than one."""
    values = [str(v) for v in message.get_all("From", [])]
    found = [a for _n, a in getaddresses(values) if "@" in a]
    if len(values) != 1 or len(found) != 1:
        return None
    return found[0].lower()


def sender_allowed(sender: str, allowed: Iterable[str]) -> bool:
    """An exact address, or ``*@domain`` for any address of exactly that domain."""
    domain = sender.rpartition("@")[2]
    for pattern in (p.lower() for p in allowed):
        if pattern == sender or (pattern.startswith("*@") and pattern[2:] == domain):
            return True
    return False


def address_of(mailbox: str) -> str:
    """``user@domain`` of ``Name <user@domain>``, lower-cased."""
    return parseaddr(mailbox)[1].lower()
