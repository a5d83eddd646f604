"""Password hashing (argon2id) and random secrets stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when a username does not exist, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str = "") -> str:
    """256 random bits, URL-safe: a hint of its first characters may be shown and stored and
    well over 128 unknown bits remain."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the database keeps of a secret. Secrets are random, so a plain SHA-256 suffices."""
    # surrogatepass: text from JSON may hold lone surrogates; they must not crash a lookup.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(12)
