"""Upload-page passwords (SPEC 12): argon2id hashes, checked in about the same time
whether or not the email belongs to a user."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters


def hash_password(password: str) -> str:
    """The ``$argon2id$...`` hash to write as ``password_hash`` in the configuration."""
    if not password:
        raise ValueError("the password is empty")
    return _HASHER.hash(password)


@cache
def _decoy_hash() -> str:
    # Verified for unknown emails, so that the answer takes as long as for a user.
    return _HASHER.hash("decoy password, never a user's")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; ``password_hash`` None (no such user) costs the same."""
    try:
        ok = _HASHER.verify(password_hash or _decoy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and password_hash is not None
