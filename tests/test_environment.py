"""Proves the environment that scripts/test sets up: PostgreSQL, Redis, Chromium, no network.

These fail (rather than skip) outside scripts/test on purpose: a suite that silently skipped its
PostgreSQL or browser tests would look green while testing much less.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    assert value, f"{name} is not set: run the tests with scripts/test"
    return value


async def test_postgres_answers() -> None:
    # SQLAlchemy's URL carries the driver ("+asyncpg"); asyncpg itself wants a plain DSN.
    dsn = _env("PODIUM_TEST_POSTGRES_URL").replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SELECT current_database()") == "podium_test"
    finally:
        await conn.close()


async def test_redis_answers() -> None:
    client = aioredis.from_url(_env("PODIUM_TEST_REDIS_URL"), socket_timeout=10)
    try:
        assert await client.ping()
        await client.set("podium:env-check", "ok")
        assert await client.get("podium:env-check") == b"ok"
        await client.delete("podium:env-check")
    finally:
        await client.aclose()


def test_only_loopback_exists() -> None:
    # The suite runs in a private network namespace: nothing but 127.0.0.0/8 is reachable.
    # The only other interfaces allowed are the veth pair the Janus tests make inside this same
    # namespace (both ends here, addressed in 127.0.0.0/8), so nothing leads outside.
    names = [name for _, name in socket.if_nameindex()]
    assert names[0] == "lo" and set(names) <= {"lo", "jv0", "jv1"}, names
    addresses = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True,
                               check=True).stdout.split()
    for i, word in enumerate(addresses):
        if word in ("inet", "inet6"):
            address = ipaddress.ip_interface(addresses[i + 1]).ip
            assert address.is_loopback or address.is_link_local, address


def test_chromium_is_installed() -> None:
    path = Path(_env("PODIUM_TEST_CHROMIUM"))
    assert path == Path("/usr/bin/chromium")
    assert path.exists() and os.access(path, os.X_OK)


def test_ice_is_pinned_to_loopback() -> None:
    assert _env("PODIUM_ICE_HOSTS") == "127.0.0.1"
