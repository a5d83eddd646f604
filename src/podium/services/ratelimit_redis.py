"""The rate limits and sign-in throttling of ``services.ratelimit``, kept in Redis for several
nodes.

Same rules, same settings, same errors: a token bucket per (kind, key) as a Redis hash updated by
one script (so two nodes taking from one bucket at once cannot both spend its last token), the
sign-in backoff as a hash per (address, username) updated by one script, and the address
lockout as a sorted set of failure times per address plus a key that exists while it lasts.
Time comes from the service clock, as in memory, so tests can move it. Keys
expire once they would be back to their resting state, so Redis holds only active callers.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from podium.clock import Clock
from podium.config import Settings
from podium.services.ratelimit import RateLimited, RateLimiter, address_locked, backing_off

# KEYS = bucket; ARGV = capacity, refill per second, now, ttl ms. Returns {taken, tokens}.
TAKE = """
local cap, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 's')
local tokens, stamp = tonumber(b[1]) or cap, tonumber(b[2]) or now
tokens = math.min(cap, tokens + math.max(0, now - stamp) * rate)
local taken = 0
if tokens >= 1 then tokens = tokens - 1 taken = 1 end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 's', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {taken, string.format('%.17g', tokens)}
"""
# KEYS = failures, locked; ARGV = now, window s, threshold, member. Returns 1 if now locked.
FAIL = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], string.format('%.17g', now + window), 'PX', math.ceil(window * 1000))
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""
# KEYS = (address, username) backoff hash; ARGV = now, window s, free, base s, max s.
BACKOFF = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local free, base, cap = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local b = redis.call('HMGET', KEYS[1], 'n', 'last')
local n, last = tonumber(b[1]) or 0, tonumber(b[2])
if last == nil or now - last > window then n = 0 end
n = n + 1
local wait = 0
if n > free then wait = math.min(cap, base * 2 ^ math.min(n - free - 1, 64)) end
redis.call('HSET', KEYS[1], 'n', n, 'last', string.format('%.17g', now),
           'until', string.format('%.17g', now + wait))
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(window, wait) * 1000) + 1000)
return n
"""


class RedisRateLimiter(RateLimiter):
    def __init__(self, clock: Clock, settings: Settings) -> None:
        super().__init__(clock, settings)
        import redis.asyncio as redis_asyncio

        self.prefix = settings.redis_prefix + "limit:"
        self._redis: Any = redis_asyncio.Redis.from_url(settings.redis_url)

    async def close(self) -> None:
        await self._redis.aclose()

    async def check(self, kind: str, key: str | int) -> None:
        rate = self.rates.get(kind)
        if rate is None:
            raise ValueError(f"no rate limit named {kind!r}: add a setting or call set_rate")
        ttl_ms = max(1000, int(1000 * rate.seconds) + 1000)  # full again after `seconds`
        taken, tokens = await self._redis.eval(
            TAKE, 1, f"{self.prefix}{kind}:{key}", rate.count, rate.per_second,
            repr(self.clock.now()), ttl_ms)
        if not int(taken):
            raise RateLimited("rate_limited", "Too many requests: slow down and try again soon.",
                              (1 - float(tokens)) / rate.per_second)

    def _pair(self, address: str, username: str) -> str:
        # Hashed: addresses (IPv6) and names could otherwise run into each other.
        pair = hashlib.sha256(f"{address}\0{username}".encode("utf-8", "surrogatepass"))
        return f"{self.prefix}backoff:{pair.hexdigest()[:32]}"

    async def check_signin(self, address: str, username: str) -> None:
        now = self.clock.now()
        if address:
            until = await self._redis.get(f"{self.prefix}locked:address:{address}")
            if until is not None and float(until) > now:
                raise address_locked(float(until) - now)
        until = await self._redis.hget(self._pair(address, username), "until")
        if until is not None and float(until) > now:
            raise backing_off(float(until) - now)

    async def record_signin_failure(self, address: str, username: str) -> None:
        now = self.clock.now()
        await self._redis.eval(BACKOFF, 1, self._pair(address, username), repr(now),
                               self.lockout_seconds, self.backoff_free, self.backoff_base,
                               self.backoff_max)
        if address:
            await self._redis.eval(
                FAIL, 2, f"{self.prefix}failures:address:{address}",
                f"{self.prefix}locked:address:{address}", repr(now), self.lockout_seconds,
                self.lockout_failures_per_address, f"{now}:{secrets.token_hex(4)}")

    async def clear_signin_failures(self, address: str, username: str) -> None:
        await self._redis.delete(self._pair(address, username))
