"""Rate limits and the sign-in lockout, kept in this process's memory.

``limiter.check(kind, key)`` takes one unit from the bucket of ``kind`` for ``key`` (an account
id or an address) and raises ``RateLimited`` (a ``TooMany``: HTTP 429 with ``Retry-After``, or a
``rate_limited`` error frame on the WebSocket) when it is empty. Each kind's rate is a setting
``rate_<kind>`` written ``"COUNT/SECONDS"``: a token bucket holding COUNT, refilled evenly over
SECONDS, so a quiet caller may burst up to COUNT and a busy one gets COUNT per SECONDS.

The lockout counts failures (wrong passwords) per username and per address; after too many
within ``lockout_seconds`` that username or address is refused for ``lockout_seconds``.

This class keeps everything in this process's memory (bounded: past ``max_keys`` entries, idle,
fully refilled buckets are dropped, then the oldest). With several nodes
(``services.ratelimit_redis``) the same buckets and lockouts live in Redis, so a client that
spreads its requests over the nodes gets the same budget as on one.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass

from podium.clock import Clock
from podium.config import Settings
from podium.services.errors import TooMany

RATE_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")
# Kinds with a setting of their own (``rate_<kind>``); keyed by what each is counted per.
KINDS = {
    "signin": "address",        # sign-in attempts (failures also feed the lockout)
    "signup": "address",
    "invite_check": "address",  # looking an invite code up
    "invite_create": "account",
    "token_create": "account",
    "room_create": "account",
    "hand_raise": "account",
    "ping": "account",          # pinging a member into a room (not the WebSocket heartbeat)
    "report": "account",
    "avatar": "account",        # avatar uploads: each one is an image to decode
    "follow": "account",        # follows and unfollows
    "event_create": "account",
    "clip": "account",          # clips cut (a file written each)
}


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: float

    @classmethod
    def parse(cls, spec: str) -> Rate:
        match = RATE_SPEC.match(spec)
        if match is None or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
            raise ValueError(f"a rate is 'COUNT/SECONDS' with both above zero, not {spec!r}")
        return cls(int(match.group(1)), float(match.group(2)))

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


class RateLimited(TooMany):
    """Too many requests: try again in ``retry_after`` seconds."""

    def __init__(self, code: str, message: str, retry_after: float) -> None:
        super().__init__(code, message)
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    def __init__(self, clock: Clock, settings: Settings, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self.rates: dict[str, Rate] = {
            kind: Rate.parse(getattr(settings, f"rate_{kind}")) for kind in KINDS}
        self.lockout_seconds = settings.lockout_seconds
        self.lockout_thresholds = {"username": settings.lockout_failures_per_username,
                                   "address": settings.lockout_failures_per_address}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._locked: dict[tuple[str, str], float] = {}

    async def close(self) -> None:
        return None

    def set_rate(self, kind: str, rate: Rate | str) -> None:
        """Add or change a kind (e.g. one a new feature needs before it has a setting)."""
        self.rates[kind] = rate if isinstance(rate, Rate) else Rate.parse(rate)

    # Token buckets --------------------------------------------------------------------

    async def check(self, kind: str, key: str | int) -> None:
        """Take one of ``kind`` for ``key``, or raise ``RateLimited``."""
        rate = self.rates.get(kind)
        if rate is None:
            raise ValueError(f"no rate limit named {kind!r}: add a setting or call set_rate")
        now = self.clock.now()
        bucket = self._bucket(kind, str(key), rate, now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        raise RateLimited("rate_limited", "Too many requests: slow down and try again soon.",
                          (1 - bucket.tokens) / rate.per_second)

    def remaining(self, kind: str, key: str | int) -> int:
        rate = self.rates[kind]
        return int(self._bucket(kind, str(key), rate, self.clock.now()).tokens)

    def _bucket(self, kind: str, key: str, rate: Rate, now: float) -> _Bucket:
        bucket = self._buckets.get((kind, key))
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict(now)
            bucket = self._buckets[(kind, key)] = _Bucket(float(rate.count), now)
        else:
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(float(rate.count), bucket.tokens + elapsed * rate.per_second)
            bucket.stamp = now
        return bucket

    def _evict(self, now: float) -> None:
        for (kind, key), bucket in list(self._buckets.items()):
            rate = self.rates.get(kind)
            if rate is None or bucket.tokens + (now - bucket.stamp) * rate.per_second >= rate.count:
                del self._buckets[(kind, key)]
        overflow = len(self._buckets) - self.max_keys // 2
        for item in list(self._buckets)[:max(0, overflow)]:
            del self._buckets[item]

    # Sign-in lockout ------------------------------------------------------------------

    async def check_lockout(self, **keys: str) -> None:
        """Refuse while any of the keys (``username=…``, ``address=…``) is locked out. The
        answer is the same whether or not the username exists."""
        now = self.clock.now()
        for scope, key in keys.items():
            until = self._locked.get((scope, key))
            if until is None:
                continue
            if until > now:
                raise RateLimited("locked_out",
                                  "Too many failed sign-ins: wait a while and try again.",
                                  until - now)
            del self._locked[(scope, key)]

    async def record_failure(self, **keys: str) -> None:
        """Count a failed sign-in against each key; lock those that reach their threshold."""
        now = self.clock.now()
        for scope, key in keys.items():
            if len(self._failures) >= self.max_keys:
                self._forget_failures(now)
            times = self._failures.setdefault((scope, key), deque())
            times.append(now)
            while times and times[0] <= now - self.lockout_seconds:
                times.popleft()
            if len(times) >= self.lockout_thresholds[scope]:
                self._locked[(scope, key)] = now + self.lockout_seconds
                times.clear()

    async def clear_failures(self, **keys: str) -> None:
        for scope, key in keys.items():
            self._failures.pop((scope, key), None)

    def _forget_failures(self, now: float) -> None:
        for item, times in list(self._failures.items()):
            if not times or times[-1] <= now - self.lockout_seconds:
                del self._failures[item]
        for item in list(self._failures)[:max(0, len(self._failures) - self.max_keys // 2)]:
            del self._failures[item]
        for item, until in list(self._locked.items()):
            if until <= now:
                del self._locked[item]
