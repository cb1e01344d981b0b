"""CSRF tokens (SPEC 12): every form carries ``csrf_token``, an HMAC of a random per-browser
seed (a cookie) and the session, so a token from another browser or session is refused."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SEED_COOKIE = "sw_csrf"
FIELD = "csrf_token"


def new_seed() -> str:
    return secrets.token_urlsafe(24)


class CsrfTokens:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"sftp-watcher csrf\0" + secret).digest()

    def __repr__(self) -> str:
        return "CsrfTokens(...)"

    def token(self, seed: str, session_id: str | None) -> str:
        message = f"{seed}\0{session_id or ''}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def valid(self, seed: str | None, session_id: str | None, given: str | None) -> bool:
        if not seed or not given:
            return False
        return hmac.compare_digest(self.token(seed, session_id), given)
