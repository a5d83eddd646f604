"""Password hashing (argon2id) and random secrets stored only as hashes.

A hash or a check costs ~150 ms of CPU by design. Run on the event loop it would stop
everything else for that long, the room mixer included: 20 sign-ins in 5 s once cut the
audio of 1,000 listeners to 59 % of its packets. So the server hashes with ``hash_async`` and
``verify_async``: one worker thread at the lowest CPU priority (nice 19; libargon2 releases
the GIL), which takes only CPU the audio does not want, and a bounded queue behind it: past
``MAX_WAITING`` sign-ins waiting, more are refused with 429 rather than queued for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from podium.services.ratelimit import RateLimited

T = TypeVar("T")
MAX_WAITING = 64  # hashes queued at once (~10 s of work for one thread): more get a 429

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


def _lowest_priority() -> None:
    """Nice 19 for this thread only (Linux sets nice per thread; new threads inherit it)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class _PasswordWork:
    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self.waiting = 0

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, "podium-passwords", _lowest_priority)
        return self._executor

    async def run(self, work: Callable[..., T], *args: object) -> T:
        if self.waiting >= MAX_WAITING:
            raise RateLimited("busy", "Many people are signing in right now: try again shortly.",
                              5)
        self.waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool(), work, *args)
        finally:
            self.waiting -= 1


_work = _PasswordWork()


async def hash_async(password: str) -> str:
    """``hash_password`` off the event loop, at low priority (see the module's note)."""
    return await _work.run(hash_password, password)


async def verify_async(password_hash: str | None, password: str) -> bool:
    """``verify_password`` off the event loop, at low priority (see the module's note)."""
    return await _work.run(verify_password, password_hash, password)
