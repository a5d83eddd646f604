"""Shared fixtures: a real Podium server on loopback, on SQLite and (when available) PostgreSQL.

The test command runs everything inside a loopback-only network namespace and exports
``PODIUM_TEST_POSTGRES_URL``; ``db_url`` is parametrised over both databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from podium.api.app import Services, create_app
from podium.client import PodiumClient
from podium.clock import FakeClock
from podium.config import Settings

POSTGRES_URL = os.environ.get("PODIUM_TEST_POSTGRES_URL", "")
# Tests run in a loopback-only namespace: clients (and bots) announce loopback ICE candidates.
os.environ.setdefault("PODIUM_ICE_HOSTS", "127.0.0.1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_listening(port: int, proc: asyncio.subprocess.Process | None = None,
                         timeout: float = 60.0, what: str = "podium serve") -> None:
    """Until something accepts connections on 127.0.0.1:``port`` (a server process we
    started: ``proc``, which must not exit meanwhile)."""
    async with asyncio.timeout(timeout):
        while True:
            assert proc is None or proc.returncode is None, f"{what} exited during start-up"
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)  # start-up poll: nothing to await on


async def _reset_postgres(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def _db_params() -> list[Any]:
    params: list[Any] = [pytest.param("sqlite", id="sqlite")]
    if POSTGRES_URL or os.environ.get("CI"):
        params.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))
    return params


@pytest.fixture(params=_db_params())
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Server:
    url: str
    services: Services
    clock: FakeClock
    settings: Settings

    async def user(self, username: str, admin: bool = False) -> PodiumClient:
        """A member with an API token, and a client signed in with it."""
        account = await self.services.accounts.create_user(username, username.title(),
                                                           "password-" + username, is_admin=admin)
        _, token = await self.services.accounts.create_token(account.id, "tests")
        client = PodiumClient(self.url, token)
        self._clients.append(client)
        return client

    async def anonymous(self) -> PodiumClient:
        client = PodiumClient(self.url)
        self._clients.append(client)
        return client

    def __post_init__(self) -> None:
        self._clients: list[PodiumClient] = []


@contextlib.asynccontextmanager
async def run_server(tmp_path: Path, db_kind: str = "sqlite", reset_db: bool = True,
                     **overrides: Any) -> AsyncIterator[Server]:
    """``reset_db=False``: a further node on the database another server already set up."""
    if db_kind == "postgres":
        if not POSTGRES_URL:
            pytest.fail("PODIUM_TEST_POSTGRES_URL is not set: run tests with scripts/test")
        if reset_db:
            await _reset_postgres(POSTGRES_URL)
        db_url = POSTGRES_URL
    else:
        db_url = f"sqlite+aiosqlite:///{tmp_path / 'podium.db'}"
    port = _free_port()
    values: dict[str, Any] = {
        "data_dir": tmp_path, "database_url": db_url, "secret_key": "test-secret",
        "host": "127.0.0.1", "port": port, "ice_hosts": ["127.0.0.1"],
        "audience_coalesce_seconds": 0.05, "heartbeat_seconds": 5.0,
    }
    values.update(overrides)
    clock = FakeClock(overrides.pop("clock_start", 1_800_000_000.0))
    values.pop("clock_start", None)
    settings = Settings(**values)
    app = create_app(settings, clock=clock, run_ticker=False)
    # proxy_headers off, as `podium serve` runs it: Podium reads forwarded headers itself.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            ws_max_size=64 * 1024, lifespan="on", proxy_headers=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        await asyncio.sleep(0.01)  # start-up poll: uvicorn offers no event to await
    handle = Server(f"http://127.0.0.1:{port}", app.state.podium, clock, settings)
    try:
        yield handle
    finally:
        for client in handle._clients:
            await client.close()
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@pytest.fixture
async def server(tmp_path: Path, db_kind: str) -> AsyncIterator[Server]:
    async with run_server(tmp_path, db_kind) as handle:
        yield handle


@pytest.fixture
def make_server(tmp_path: Path) -> Callable[..., Any]:
    """For tests that need particular settings: ``async with make_server(x=1) as s``."""
    return lambda **overrides: run_server(tmp_path, "sqlite", **overrides)
