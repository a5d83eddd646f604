"""Rate limits and the sign-in lockout: 429 with Retry-After, per account and per address."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from podium.clock import FakeClock
from podium.config import Settings
from podium.services.errors import TooMany
from podium.services.ratelimit import KINDS, Rate, RateLimited, RateLimiter
from podium.services.ratelimit_redis import RedisRateLimiter
from tests.api.helpers import act, anonymous, assert_error, member, ok
from tests.realtime.helpers import RawSocket

REDIS_URL = os.environ.get("PODIUM_TEST_REDIS_URL", "")


def limiter(**settings: Any) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    values = {"secret_key": "x", **settings}
    return RateLimiter(clock, Settings(**values)), clock


Make = Callable[..., Awaitable[tuple[RateLimiter, FakeClock]]]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.skipif(
    not REDIS_URL and not os.environ.get("CI"), reason="needs PODIUM_TEST_REDIS_URL"))])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Limiters on one node's memory, and on Redis (several nodes): the same rules."""
    made: list[RateLimiter] = []

    async def factory(**settings: Any) -> tuple[RateLimiter, FakeClock]:
        clock = FakeClock()
        values = {"secret_key": "x", **settings}
        if request.param == "redis":
            values.update(redis_url=REDIS_URL, redis_prefix=f"t{secrets.token_hex(4)}:")
            made.append(RedisRateLimiter(clock, Settings(**values)))
        else:
            made.append(RateLimiter(clock, Settings(**values)))
        return made[-1], clock

    yield factory
    for rl in made:
        await rl.close()


def test_rate_parsing_and_settings() -> None:
    assert Rate.parse("10/60") == Rate(10, 60.0) and Rate.parse(" 3 / 1.5 ") == Rate(3, 1.5)
    for bad in ("", "10", "0/60", "10/0", "-1/5", "ten/60"):
        with pytest.raises(ValueError):
            Rate.parse(bad)
    with pytest.raises(ValueError):
        Settings(secret_key="x", rate_signin="lots")
    # Every kind has a setting; the settings reach the limiter.
    rl, _ = limiter(rate_ping="2/10")
    assert set(rl.rates) == set(KINDS) and rl.rates["ping"] == Rate(2, 10.0)


async def test_token_bucket_refills_evenly_and_keys_are_separate(make: Make) -> None:
    rl, clock = await make(rate_ping="3/30")
    for _ in range(3):
        await rl.check("ping", 1)
    with pytest.raises(RateLimited) as caught:
        await rl.check("ping", 1)
    assert isinstance(caught.value, TooMany) and caught.value.status == 429
    assert caught.value.retry_after == 10  # one more every 10 s
    await rl.check("ping", 2)  # another account has its own bucket
    clock.advance(10)
    await rl.check("ping", 1)
    with pytest.raises(RateLimited):
        await rl.check("ping", 1)
    with pytest.raises(ValueError, match="no rate limit named"):
        await rl.check("nonsense", 1)
    rl.set_rate("follow", "1/5")
    await rl.check("follow", 1)
    with pytest.raises(RateLimited):
        await rl.check("follow", 1)


async def test_backoff_per_address_and_username_grows(make: Make) -> None:
    rl, clock = await make(signin_backoff_free=2, signin_backoff_base_seconds=4,
                           signin_backoff_max_seconds=20, lockout_seconds=600)
    for _ in range(2):
        await rl.record_signin_failure("1.2.3.4", "ann")
    await rl.check_signin("1.2.3.4", "ann")  # the first failures are free
    waits = []
    for _ in range(4):
        await rl.record_signin_failure("1.2.3.4", "ann")
        with pytest.raises(RateLimited) as caught:
            await rl.check_signin("1.2.3.4", "ann")
        assert caught.value.code == "signin_backoff"
        assert f"wait {caught.value.retry_after} s" in caught.value.message
        waits.append(caught.value.retry_after)
        await rl.check_signin("5.6.7.8", "ann")  # another address is not held up
        await rl.check_signin("1.2.3.4", "bob")  # nor another username from this address
        clock.advance(caught.value.retry_after)
        await rl.check_signin("1.2.3.4", "ann")  # the wait is over
    assert waits == [4, 8, 16, 20]  # doubled each time, up to the maximum
    await rl.clear_signin_failures("1.2.3.4", "ann")  # a good password forgets them
    await rl.record_signin_failure("1.2.3.4", "ann")
    await rl.check_signin("1.2.3.4", "ann")
    clock.advance(601)  # failures older than lockout_seconds are forgotten too
    for _ in range(2):
        await rl.record_signin_failure("1.2.3.4", "ann")
    await rl.check_signin("1.2.3.4", "ann")


async def test_address_locked_after_failures_across_usernames(make: Make) -> None:
    rl, clock = await make(lockout_failures_per_address=3, lockout_seconds=60)
    for i in range(3):
        await rl.record_signin_failure("1.2.3.4", f"user{i}")
    with pytest.raises(RateLimited) as caught:
        await rl.check_signin("1.2.3.4", "someone-else")
    assert caught.value.code == "locked_out" and caught.value.retry_after == 60
    await rl.check_signin("5.6.7.8", "user0")
    clock.advance(61)
    await rl.check_signin("1.2.3.4", "someone-else")


async def test_memory_stays_bounded() -> None:
    clock = FakeClock()
    rl = RateLimiter(clock, Settings(secret_key="x"), max_keys=100)
    for i in range(1000):
        await rl.check("ping", i)
        await rl.record_signin_failure(f"10.0.{i // 256}.{i % 256}", f"u{i}")
    assert len(rl._buckets) <= 100 and len(rl._backoffs) <= 100 and len(rl._failures) <= 100


async def test_a_stranger_is_slowed_down_but_cannot_lock_a_member_out(
        make_server: Callable[..., Any]) -> None:
    async with make_server(trusted_proxies=["127.0.0.1"], signin_backoff_free=3,
                           signin_backoff_base_seconds=2, lockout_seconds=600) as server:
        await member(server, "alice")
        stranger, alice = anonymous(server), anonymous(server)

        async def sign_in(client: Any, address: str, name: str, password: str) -> Any:
            return await client.post("/auth/signin", headers={"X-Forwarded-For": address},
                                     json={"username": name, "password": password})

        for _ in range(3):
            assert_error(await sign_in(stranger, "203.0.113.66", "alice", "guess"), 401)
        waits = []
        for _ in range(3):
            assert_error(await sign_in(stranger, "203.0.113.66", "alice", "guess"), 401)
            refused = await sign_in(stranger, "203.0.113.66", "alice", "password-alice")
            body = assert_error(refused, 429, "signin_backoff")
            waits.append(int(refused.headers["retry-after"]))
            assert f"wait {waits[-1]} s" in body["message"]
            assert "set-cookie" not in refused.headers
            # Meanwhile alice, at home, signs in at once.
            ok(await sign_in(alice, "198.51.100.5", "alice", "password-alice"))
            server.clock.advance(waits[-1])
        assert waits == [2, 4, 8]  # each failure doubles the stranger's wait
        # The same answer for a name that does not exist: it tells nothing.
        for _ in range(4):
            unknown = await sign_in(stranger, "203.0.113.67", "nobody", "guess")
        unknown = await sign_in(stranger, "203.0.113.67", "nobody", "guess")
        assert_error(unknown, 429, "signin_backoff")
        assert unknown.headers["retry-after"] == "2"
        # Case and spaces do not make a new name.
        server.clock.advance(1)
        assert_error(await sign_in(stranger, "203.0.113.66", " ALICE ", "x"), 401)
        assert_error(await sign_in(stranger, "203.0.113.66", "alice", "x"), 429, "signin_backoff")


async def test_success_clears_the_backoff(make_server: Callable[..., Any]) -> None:
    async with make_server(signin_backoff_free=3) as server:
        await member(server, "alice")
        guest = anonymous(server)
        body = {"username": "alice", "password": "nope-nope"}
        for _ in range(5):
            assert_error(await guest.post("/auth/signin", json=body), 401)
            assert_error(await guest.post("/auth/signin", json=body), 401)
            ok(await guest.post("/auth/signin",
                                json={"username": "alice", "password": "password-alice"}))


async def test_sign_in_lockout_per_address(make_server: Callable[..., Any]) -> None:
    async with make_server(lockout_failures_per_address=4, lockout_seconds=300) as server:
        await member(server, "zed")
        guest = anonymous(server)
        for i in range(4):  # a different name each time: only the address adds up
            assert_error(await guest.post("/auth/signin",
                                          json={"username": f"u{i}", "password": "x"}), 401)
        response = await guest.post("/auth/signin",
                                    json={"username": "zed", "password": "password-zed"})
        assert_error(response, 429, "locked_out")
        assert response.headers["retry-after"] == "300"


async def test_sign_in_attempts_per_address(make_server: Callable[..., Any]) -> None:
    async with make_server(rate_signin="3/60") as server:
        await member(server, "alice")
        guest = anonymous(server)
        body = {"username": "alice", "password": "password-alice"}
        for _ in range(3):
            ok(await guest.post("/auth/signin", json=body))
        response = await guest.post("/auth/signin", json=body)
        assert_error(response, 429, "rate_limited")
        assert response.headers["retry-after"] == "20"


async def test_http_limits_answer_429_with_retry_after(make_server: Callable[..., Any]) -> None:
    async with make_server(rate_invite_create="2/3600", rate_room_create="2/600",
                           rate_hand_raise="2/60", rate_token_create="1/60",
                           rate_invite_check="2/60", rate_signup="1/3600") as server:
        alice = await member(server, "alice", admin=True)
        bob = await member(server, "bob")
        codes = [ok(await alice.http.post("/invites"), 201)["code"] for _ in range(2)]
        limited = await alice.http.post("/invites")
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) == 1800

        ok(await alice.http.post("/tokens", json={"name": "a"}), 201)
        assert_error(await alice.http.post("/tokens", json={"name": "b"}), 429)

        guest = anonymous(server)
        ok(await guest.get(f"/invites/{codes[0]}"))
        ok(await guest.get(f"/invites/{codes[1]}"))
        assert_error(await guest.get(f"/invites/{codes[1]}"), 429)
        signup = {"invite": codes[0], "username": "newbie", "display_name": "N",
                  "password": "password-newbie"}
        ok(await guest.post("/auth/signup", json=signup), 201)
        other = anonymous(server)
        assert_error(await other.post("/auth/signup", json={**signup, "invite": codes[1],
                                                            "username": "second"}), 429)

        rooms = [ok(await alice.http.post("/rooms", json={"title": f"R{i}"}), 201)["id"]
                 for i in range(2)]
        response = await alice.http.post("/rooms", json={"title": "third"})
        assert_error(response, 429, "rate_limited")
        assert response.headers["retry-after"] == "300"
        # A malformed body does not spend the allowance.
        assert_error(await bob.http.post("/rooms", json={"title": ""}), 422)
        ok(await bob.http.post("/rooms", json={"title": "fine"}), 201)

        ok(await act(bob, rooms[0], "join"))
        for _ in range(2):
            ok(await act(bob, rooms[0], "hand/raise"))
            ok(await act(bob, rooms[0], "hand/lower"))
        assert_error(await act(bob, rooms[0], "hand/raise"), 429, "rate_limited")
        server.clock.advance(30)
        ok(await act(bob, rooms[0], "hand/raise"))


async def test_websocket_hand_raises_share_the_limit(make_server: Callable[..., Any]) -> None:
    async with make_server(rate_hand_raise="1/60") as server:
        alice, bob = await member(server, "alice"), await member(server, "bob")
        room = ok(await alice.http.post("/rooms", json={"title": "Limits"}), 201)["id"]
        ws = await RawSocket.open(server, bob.token)
        await ws.recv()
        await ws.send({"id": 1, "type": "join", "room_id": room})
        await ws.until(lambda f: f.get("id") == 1)
        await ws.send({"id": 2, "type": "raise_hand"})
        assert (await ws.until(lambda f: f.get("id") == 2))["type"] == "reply"
        await ws.send({"id": 3, "type": "lower_hand"})
        await ws.until(lambda f: f.get("id") == 3)
        await ws.send({"id": 4, "type": "raise_hand"})
        refused = await ws.until(lambda f: f.get("id") == 4)
        assert refused["type"] == "error" and refused["error"] == "rate_limited"
        assert_error(await act(bob, room, "hand/raise"), 429)  # HTTP counts the same bucket
        await ws.close()


async def test_websocket_flood_numbers_are_settings(make_server: Callable[..., Any]) -> None:
    async with make_server(ws_rate=1.0, ws_burst=3.0, ws_flood_limit=5) as server:
        alice = await member(server, "alice")
        ws = await RawSocket.open(server, alice.token)
        await ws.recv()
        for i in range(20):
            await ws.send({"id": i, "type": "ping"})
        assert await ws.close_code() == 4008
        replies = [f for f in ws.frames if f["type"] == "reply"]
        errors = [f for f in ws.frames if f.get("error") == "rate_limited"]
        assert 3 <= len(replies) <= 4 and errors


async def test_pings_are_limited_per_account(make_server: Callable[..., Any]) -> None:
    async with make_server(rate_ping="2/60") as server:
        host = await member(server, "host")
        others = [await member(server, f"p{i}") for i in range(3)]
        room = ok(await host.http.post("/rooms", json={"title": "Pings"}), 201)["id"]
        ok(await act(host, room, "join"))
        for other in others[:2]:
            ok(await act(host, room, "ping", user_id=other.id))
        response = await act(host, room, "ping", user_id=others[2].id)
        assert_error(response, 429, "rate_limited")
        assert response.headers["retry-after"] == "30"
