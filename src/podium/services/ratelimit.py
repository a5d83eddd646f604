"""Rate limits and the sign-in lockout, kept in this process's memory.

``limiter.check(kind, key)`` takes one unit from the bucket of ``kind`` for ``key`` (an account
id or an address) and raises ``RateLimited`` (a ``TooMany``: HTTP 429 with ``Retry-After``, or a
``rate_limited`` error frame on the WebSocket) when it is empty. Each kind's rate is a setting
``rate_<kind>`` written ``"COUNT/SECONDS"``: a token bucket holding COUNT, refilled evenly over
SECONDS, so a quiet caller may burst up to COUNT and a busy one gets COUNT per SECONDS.

Sign-in failures (wrong passwords) are counted per (address, username): past
``signin_backoff_free`` of them that address must wait before trying that username again, twice
as long after each further failure (``signin_backoff_*``). Nothing is counted per username
alone, so a stranger guessing from elsewhere cannot lock a member out of their own account.
Guessing across many usernames is stopped per address: ``lockout_failures_per_address``
failures within ``lockout_seconds`` lock that address out for ``lockout_seconds``.

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
    "signin": "address",        # sign-in attempts (failures also feed the backoff)
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


@dataclass(slots=True)
class _Backoff:
    failures: int = 0
    last: float = float("-inf")  # time of the last failure
    until: float = 0.0  # no new try before


class RateLimiter:
    def __init__(self, clock: Clock, settings: Settings, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self.rates: dict[str, Rate] = {
            kind: Rate.parse(getattr(settings, f"rate_{kind}")) for kind in KINDS}
        self.lockout_seconds = settings.lockout_seconds
        self.lockout_failures_per_address = settings.lockout_failures_per_address
        self.backoff_free = settings.signin_backoff_free
        self.backoff_base = settings.signin_backoff_base_seconds
        self.backoff_max = settings.signin_backoff_max_seconds
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._backoffs: dict[tuple[str, str], _Backoff] = {}  # (address, username)
        self._failures: dict[str, deque[float]] = {}  # address: failure times
        self._locked: dict[str, float] = {}  # address: locked until

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

    # Sign-in throttling ---------------------------------------------------------------

    async def check_signin(self, address: str, username: str) -> None:
        """Refuse while this address is locked out, or must still wait before trying this
        username again. The answer is the same whether or not the username exists."""
        now = self.clock.now()
        if address:
            until = self._locked.get(address)
            if until is not None and until > now:
                raise address_locked(until - now)
            self._locked.pop(address, None)
        backoff = self._backoffs.get((address, username))
        if backoff is not None and backoff.until > now:
            raise backing_off(backoff.until - now)

    async def record_signin_failure(self, address: str, username: str) -> None:
        """Count a failed sign-in: against this (address, username), which then waits longer
        before its next try, and against the address, which is locked out at its threshold."""
        now = self.clock.now()
        if len(self._backoffs) >= self.max_keys:
            self._forget_failures(now)
        backoff = self._backoffs.setdefault((address, username), _Backoff())
        if now - backoff.last > self.lockout_seconds:
            backoff.failures = 0
        backoff.failures += 1
        backoff.last = now
        backoff.until = now + self.backoff_delay(backoff.failures)
        if not address:
            return
        times = self._failures.setdefault(address, deque())
        times.append(now)
        while times and times[0] <= now - self.lockout_seconds:
            times.popleft()
        if len(times) >= self.lockout_failures_per_address:
            self._locked[address] = now + self.lockout_seconds
            times.clear()

    async def clear_signin_failures(self, address: str, username: str) -> None:
        """A good password: this (address, username) starts again from no failures."""
        self._backoffs.pop((address, username), None)

    def backoff_delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row: none for the first
        ``signin_backoff_free``, then the base doubled each time, up to the maximum."""
        over = failures - self.backoff_free
        if over <= 0:
            return 0.0
        return float(min(self.backoff_max, self.backoff_base * 2.0 ** min(over - 1, 64)))

    def _forget_failures(self, now: float) -> None:
        for item, backoff in list(self._backoffs.items()):
            if backoff.until <= now and backoff.last <= now - self.lockout_seconds:
                del self._backoffs[item]
        for item in list(self._backoffs)[:max(0, len(self._backoffs) - self.max_keys // 2)]:
            del self._backoffs[item]
        for address, times in list(self._failures.items()):
            if not times or times[-1] <= now - self.lockout_seconds:
                del self._failures[address]
        for address in list(self._failures)[:max(0, len(self._failures) - self.max_keys // 2)]:
            del self._failures[address]
        for address, until in list(self._locked.items()):
            if until <= now:
                del self._locked[address]


def address_locked(retry_after: float) -> RateLimited:
    return RateLimited("locked_out", "Too many failed sign-ins from your address: wait a while "
                       "and try again.", retry_after)


def backing_off(retry_after: float) -> RateLimited:
    seconds = max(1, math.ceil(retry_after))
    return RateLimited("signin_backoff", "Too many failed sign-ins for this username from your "
                       f"address: wait {seconds} s before trying again.", retry_after)
