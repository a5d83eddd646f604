"""RedisBus against the real Redis that scripts/test starts (PODIUM_TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator

import pytest

from podium.bus import Message
from podium.realtime.redis_bus import RedisBus

REDIS_URL = os.environ.get("PODIUM_TEST_REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL and not os.environ.get("CI"),
                                reason="needs PODIUM_TEST_REDIS_URL (run with scripts/test)")


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    prefix = f"test-{secrets.token_hex(4)}:"  # tests never see each other's messages
    a, b = RedisBus(REDIS_URL, prefix), RedisBus(REDIS_URL, prefix)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def until(condition: object, timeout: float = 10.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_two_nodes_see_a_burst_in_the_same_order(nodes: tuple[RedisBus, RedisBus]) -> None:
    a, b = nodes
    seen: dict[str, list[tuple[str, int]]] = {"a": [], "b": [], "b2": []}
    a.subscribe("room:r1", lambda m: seen["a"].append((m["from"], m["i"])))
    b.subscribe("room:r1", lambda m: seen["b"].append((m["from"], m["i"])))
    b.subscribe("room:r1", lambda m: seen["b2"].append((m["from"], m["i"])))
    await a.synced()
    await b.synced()

    async def burst(bus: RedisBus, name: str) -> None:
        for i in range(500):
            await bus.publish("room:r1", {"from": name, "i": i})

    # Both nodes publish at once: 1,000 messages interleaved by Redis, one order for all.
    await asyncio.gather(burst(a, "a"), burst(b, "b"))
    await until(lambda: all(len(v) >= 1000 for v in seen.values()))
    await asyncio.sleep(0.2)  # nothing more (no duplicates) arrives
    assert len(seen["a"]) == 1000
    assert seen["a"] == seen["b"] == seen["b2"]
    assert len(set(seen["a"])) == 1000
    for name in ("a", "b"):  # each publisher's own messages keep their order
        assert [i for n, i in seen["a"] if n == name] == list(range(500))
    assert a.stats.lag_count >= 1000 and a.stats.lag_max < 10


async def test_unsubscribe_stops_delivery(nodes: tuple[RedisBus, RedisBus]) -> None:
    a, b = nodes
    got: list[Message] = []
    other: list[Message] = []
    stop = b.subscribe("room:x", got.append)
    b.subscribe("room:y", other.append)
    await b.synced()
    await a.publish("room:x", {"n": 1})
    await until(lambda: len(got) == 1)
    stop()
    await a.publish("room:x", {"n": 2})  # may still reach Redis's subscription: dropped here
    await b.synced()
    await a.publish("room:x", {"n": 3})
    await a.publish("room:y", {"n": 4})
    await until(lambda: len(other) == 1)
    assert got == [{"n": 1}]
    assert b.topic_count() == 1


async def test_topics_are_separate_and_handlers_run_in_order(
        nodes: tuple[RedisBus, RedisBus]) -> None:
    a, b = nodes
    calls: list[str] = []

    def first(m: Message) -> None:
        calls.append(f"first{m['i']}")

    def second(m: Message) -> None:
        calls.append(f"second{m['i']}")

    b.subscribe("hallway", first)
    b.subscribe("hallway", second)
    b.subscribe("user:1", lambda m: calls.append("user"))
    await b.synced()
    await a.publish("hallway", {"i": 1})
    await a.publish("hallway", {"i": 2})
    await until(lambda: len(calls) == 4)
    assert calls == ["first1", "second1", "first2", "second2"]


async def test_reconnects_after_the_connection_drops(nodes: tuple[RedisBus, RedisBus]) -> None:
    a, b = nodes
    got: list[Message] = []
    b.subscribe("room:z", got.append)
    await b.synced()
    # Kill every client connection of node b's subscriber, as a Redis restart would.
    import redis.asyncio as redis

    admin = redis.Redis.from_url(REDIS_URL)
    try:
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    finally:
        await admin.aclose()
    await until(lambda: b.stats.reconnects >= 1)
    await b.synced()
    await a.publish("room:z", {"after": True})
    await until(lambda: got == [{"after": True}])


async def test_publish_survives_without_subscribers_and_ping() -> None:
    bus = RedisBus(REDIS_URL, f"test-{secrets.token_hex(4)}:")
    await bus.start()
    try:
        assert await bus.ping()
        await bus.publish("room:nobody", {"x": 1})
        assert bus.stats.published == 1
    finally:
        await bus.close()
    down = RedisBus("redis://127.0.0.1:1/0")
    try:
        assert not await down.ping()
    finally:
        await down.close()


async def test_resubscribe_after_every_topic_was_dropped(nodes: tuple[RedisBus, RedisBus]) -> None:
    a, b = nodes
    got: list[Message] = []
    stop = b.subscribe("room:again", got.append)
    await b.synced()
    stop()
    await b.synced()  # Redis confirmed the UNSUBSCRIBE: nothing subscribed on node b
    assert b.topic_count() == 0
    b.subscribe("room:again", got.append)
    await b.synced()
    await a.publish("room:again", {"n": 1})
    await until(lambda: got == [{"n": 1}])
