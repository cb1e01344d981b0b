"""Database URLs as they may be shown: the password masked, or listed for log scrubbing.

Pure (no logging, no engine): configuration, logging and the engine all use it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def masked_url(url: str) -> str:
    """``url`` as it may be printed or logged: its password, if any, as ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Unparseable: whatever follows a scheme's "user:" up to "@" may be a password.
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def url_passwords(url: str) -> tuple[str, ...]:
    """The password inside ``url``, as written and decoded, to register for scrubbing."""
    try:
        raw = urlsplit(url).password
        decoded = make_url(url).password
    except (ArgumentError, ValueError):
        return ()
    return tuple({str(p) for p in (raw, decoded) if p})
