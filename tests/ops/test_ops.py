"""/healthz and /metrics against a running server with a live room and members; JSON logs."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from typing import Any

import httpx
import pytest

from podium.logconfig import setup_logging
from podium.realtime.redis_bus import RedisBus
from tests.api.helpers import act, eventually, join_http, member, members, ok
from tests.conftest import Server

REDIS_URL = os.environ.get("PODIUM_TEST_REDIS_URL", "")
SAMPLE = re.compile(r'^([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$')


def parse_metrics(body: str) -> dict[str, float]:
    """Every line is a HELP, a TYPE or a valid sample; samples keyed by name{labels}."""
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in body.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            name = line.split()[2]
            assert name not in typed, f"TYPE twice: {name}"
            typed.add(name)
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        key = match.group(1) + (match.group(2) or "")
        assert key not in samples, f"sample twice: {key}"
        samples[key] = float(match.group(3))
    return samples


async def metrics(server: Server) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(response.text)


async def test_healthz_is_ready_with_every_check(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/healthz")
    body = ok(response)
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "media"}
    assert body["checks"]["database"]["ok"] and body["checks"]["media"]["ok"]
    assert body["checks"]["media"]["engine"] == "embedded"
    assert response.headers["cache-control"] == "no-store"


async def test_healthz_503_when_the_database_or_redis_is_down(make_server: Any) -> None:
    async with (make_server(redis_url="redis://127.0.0.1:1/0") as server,
                httpx.AsyncClient(base_url=server.url) as http):
        response = await http.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "fail"
        assert body["checks"]["redis"]["ok"] is False and body["checks"]["redis"]["error"]
        assert body["checks"]["database"]["ok"] is True

        def broken() -> Any:
            raise ConnectionRefusedError("database down")

        real = server.services.db.transaction
        server.services.db.transaction = broken  # type: ignore[method-assign]
        try:
            response = await http.get("/healthz")
        finally:
            server.services.db.transaction = real  # type: ignore[method-assign]
        assert response.status_code == 503
        assert response.json()["checks"]["database"]["ok"] is False


@pytest.mark.skipif(not REDIS_URL, reason="needs PODIUM_TEST_REDIS_URL (scripts/test)")
async def test_healthz_with_a_reachable_redis(make_server: Any) -> None:
    async with (make_server(redis_url=REDIS_URL) as server,
                httpx.AsyncClient(base_url=server.url) as http):
        body = ok(await http.get("/healthz"))
    assert body["checks"]["redis"]["ok"] is True


async def test_metrics_count_rooms_members_and_sockets(server: Server) -> None:
    before = await metrics(server)
    assert before["podium_live_rooms"] == 0
    assert before["podium_websocket_connections"] == 0
    assert before["process_resident_memory_bytes"] > 1_000_000
    assert before["process_cpu_seconds_total"] > 0
    assert before["podium_media_up"] == 1

    host, speaker, a, b = await members(server, "host", "speaker", "alice", "bob")
    room = ok(await host.http.post("/rooms", json={"title": "Ops"}), 201)
    room_id = room["id"]
    for m in (host, speaker, a, b):
        await join_http(m, room_id)
    ok(await act(host, room_id, "speakers", user_id=speaker.id))
    ok(await act(speaker, room_id, "invitation/accept"))
    other = await member(server, "other")
    second = ok(await other.http.post("/rooms", json={"title": "Second"}), 201)
    await join_http(other, second["id"])

    rt = await speaker.client.connect()
    try:
        await eventually(lambda: any(s.queue is not None
                                     for s in server.services.gateway.sessions.values()))
        now = await metrics(server)
    finally:
        await rt.close()
    assert now["podium_live_rooms"] == 2
    assert now['podium_room_members{role="moderator"}'] == 2  # the two hosts
    assert now['podium_room_members{role="speaker"}'] == 1
    assert now['podium_room_members{role="listener"}'] == 2
    assert now["podium_listeners"] == 2
    assert now["podium_speakers"] == 3
    assert now["podium_websocket_connections"] == 1
    assert now["podium_websocket_sessions"] >= 1
    stats = server.services.media.stats()
    assert now["podium_media_peers"] == stats.peers
    assert now["podium_media_rooms"] == stats.rooms
    assert now["podium_event_bus_lag_last_seconds"] == 0  # in-process: delivered in publish()
    assert 'podium_info{version="' in (await _text(server))


async def _text(server: Server) -> str:
    async with httpx.AsyncClient(base_url=server.url) as http:
        return (await http.get("/metrics")).text


@pytest.mark.skipif(not REDIS_URL, reason="needs PODIUM_TEST_REDIS_URL (scripts/test)")
async def test_a_server_on_the_redis_bus_reports_bus_metrics(make_server: Any) -> None:
    async with make_server(redis_url=REDIS_URL, event_bus="redis") as server:
        bus = server.services.redis_bus
        assert isinstance(bus, RedisBus)
        host = await member(server, "host")
        room_id = ok(await host.http.post("/rooms", json={"title": "Over Redis"}), 201)["id"]
        got: list[dict[str, Any]] = []
        bus.subscribe(f"user:{host.id}", got.append)
        await bus.synced()
        # Members' own topics go through Redis pub/sub; rooms go through their Redis logs.
        await server.services.bus.publish(f"user:{host.id}", {"type": "test"})
        await join_http(host, room_id)
        await eventually(lambda: len(got) > 0)
        m = await metrics(server)
        async with httpx.AsyncClient(base_url=server.url) as http:
            health = ok(await http.get("/healthz"))
    assert health["checks"]["redis"] == {**health["checks"]["redis"], "ok": True, "bus": True}
    assert m["podium_event_bus_connected"] == 1
    assert m["podium_event_bus_published_total"] >= 1
    assert m["podium_event_bus_delivered_total"] >= 1
    assert m["podium_event_bus_lag_seconds_count"] >= 1
    assert 0 <= m["podium_event_bus_lag_max_seconds"] < 5
    assert any(k.startswith("podium_info{") and 'event_bus="redis"' in k for k in m)
    assert m["podium_cluster_leader"] == 1  # the only node leads
    assert m["podium_room_log_entries_written_total"] >= 2  # the room's start, the join
    assert m["podium_room_log_entries_read_total"] >= 2


def test_json_logs_are_one_object_per_line() -> None:
    stream = io.StringIO()
    handler = setup_logging("json", stream=stream)
    try:
        log = logging.getLogger("podium.test")
        log.info("room %s opened", "r1", extra={"room_id": "r1", "user_id": 7})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("it failed\nover two lines")
        logging.getLogger("uvicorn.error").warning("from uvicorn")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    entries = [json.loads(line) for line in lines]
    first = entries[0]
    assert first["message"] == "room r1 opened" and first["level"] == "info"
    assert first["logger"] == "podium.test"
    assert first["room_id"] == "r1" and first["user_id"] == 7
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", first["time"])
    assert entries[1]["level"] == "error" and "ValueError: boom" in entries[1]["exc_info"]
    assert entries[2]["logger"] == "uvicorn.error"


def test_text_logs_keep_the_extras() -> None:
    stream = io.StringIO()
    handler = setup_logging("text", stream=stream)
    try:
        logging.getLogger("podium.test").warning("hello", extra={"room_id": "r9"})
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue().strip()
    assert "WARNING podium.test: hello room_id=r9" in line
