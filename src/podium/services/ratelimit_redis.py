"""The rate limits and sign-in lockout of ``services.ratelimit``, kept in Redis for several nodes.

Same rules, same settings, same errors: a token bucket per (kind, key) as a Redis hash updated by
one script (so two nodes taking from one bucket at once cannot both spend its last token), and
the lockout as a sorted set of failure times per (scope, key) plus a key that exists while the
lockout lasts. Time comes from the service clock, as in memory, so tests can move it. Keys
expire once they would be back to their resting state, so Redis holds only active callers.
"""

from __future__ import annotations

import secrets
from typing import Any

from podium.clock import Clock
from podium.config import Settings
from podium.services.ratelimit import RateLimited, RateLimiter

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

    async def check_lockout(self, **keys: str) -> None:
        now = self.clock.now()
        for scope, key in keys.items():
            until = await self._redis.get(f"{self.prefix}locked:{scope}:{key}")
            if until is not None and float(until) > now:
                raise RateLimited("locked_out",
                                  "Too many failed sign-ins: wait a while and try again.",
                                  float(until) - now)

    async def record_failure(self, **keys: str) -> None:
        now = self.clock.now()
        for scope, key in keys.items():
            await self._redis.eval(
                FAIL, 2, f"{self.prefix}failures:{scope}:{key}",
                f"{self.prefix}locked:{scope}:{key}", repr(now), self.lockout_seconds,
                self.lockout_thresholds[scope], f"{now}:{secrets.token_hex(4)}")

    async def clear_failures(self, **keys: str) -> None:
        for scope, key in keys.items():
            await self._redis.delete(f"{self.prefix}failures:{scope}:{key}")
