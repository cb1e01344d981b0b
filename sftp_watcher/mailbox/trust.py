"""Whether a sender is authenticated: the ``Authentication-Results`` header (RFC 8601) of
the configured ``authserv_id`` says ``dmarc=pass``, or ``dkim=pass`` signed by the sender's
domain. Headers of any other authserv-id are ignored: anyone can write one."""

from __future__ import annotations

import re
from email.message import Message

_COMMENT = re.compile(r"\([^()]*\)")


def _results(header: str) -> tuple[str, list[tuple[str, str, dict[str, str]]]]:
    """``(authserv-id, [(method, result, {ptype.property: value})])`` of one header."""
    text = header
    for _ in range(5):  # nested comments, a few levels
        text = _COMMENT.sub(" ", text)
    parts = [p.strip() for p in text.replace("\r", " ").replace("\n", " ").split(";")]
    authserv = parts[0].split()[0].lower() if parts and parts[0].split() else ""
    found: list[tuple[str, str, dict[str, str]]] = []
    for part in parts[1:]:
        tokens = part.split()
        if not tokens or "=" not in tokens[0]:
            continue
        method, _, result = tokens[0].partition("=")
        props: dict[str, str] = {}
        for token in tokens[1:]:
            key, eq, value = token.partition("=")
            if eq:
                props[key.lower()] = value.strip('"').lower()
        found.append((method.lower().split("/")[0], result.lower(), props))
    return authserv, found


def authenticated(message: Message, *, authserv_id: str, sender: str) -> bool:
    """True when a header of ``authserv_id`` vouches for ``sender``'s domain."""
    domain = sender.rpartition("@")[2].lower()
    for header in message.get_all("Authentication-Results", []):
        authserv, results = _results(str(header))
        if authserv != authserv_id.lower():
            continue
        for method, result, props in results:
            if result != "pass":
                continue
            if method == "dmarc" and props.get("header.from", domain) == domain:
                return True
            if method == "dkim" and _signed_for(props, domain):
                return True
    return False


def _signed_for(props: dict[str, str], domain: str) -> bool:
    if props.get("header.d") == domain:
        return True
    identity = props.get("header.i")
    return identity is not None and identity.rpartition("@")[2] == domain
