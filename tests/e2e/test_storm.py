"""People signing in and joining in a burst do not break the audio of those already listening.

A real ``podium serve`` (its own process, media workers and all), a speaker bot in its own
process, 50 listeners joined through the HTTP API; then, at once, 20 sign-ins (real argon2
hashes: ~150 ms of CPU each) and 50 more listeners joining. Every listener that was already
there must have no gap over 200 ms in its packets, by the kernel's receive timestamps (a
functional bound: the speed targets are measured by benchmarks/storm.py, not asserted here).

Before: the sign-ins hashed on the server's event loop, which also runs the room's mixer, and
existing listeners went a quarter of a second and more without a packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from podium.media.analysis import tone_wav
from podium.services.security import digest, hash_password, new_secret
from podium.storage.db import Database
from podium.storage.tables import ApiToken, User
from tests.conftest import _free_port, wait_listening
from tests.e2e.gaps import GapListener, drain_forever

pytestmark = [pytest.mark.media]
STEADY, JOINERS, SIGNINS = 50, 50, 20
MAX_GAP = 0.2  # seconds


async def _accounts(db_url: str) -> dict[str, list[str]]:
    """Members straight into the database (their hashing is not what is tested): tokens for
    the host and listeners; a real argon2 hash for the sign-ins (made once, verified by the
    server each time at full cost)."""
    db = Database(db_url)
    now = datetime.now(UTC)
    real = hash_password("storm-password")
    names = {"host": ["host"], "steady": [f"steady{i}" for i in range(STEADY)],
             "joiner": [f"joiner{i}" for i in range(JOINERS)],
             "signin": [f"signin{i}" for i in range(SIGNINS)]}
    tokens: dict[str, list[str]] = {}
    try:
        async with db.transaction() as s:
            for kind, usernames in names.items():
                users = [User(username=u, display_name=u, created_at=now,
                              password_hash=real if kind == "signin" else "!")
                         for u in usernames]
                s.add_all(users)
                await s.flush()
                tokens[kind] = [new_secret("pod_") for _ in users]
                s.add_all(ApiToken(token_hash=digest(t), hint=t[:8], name="storm",
                                   user_id=u.id, created_at=now)
                          for u, t in zip(users, tokens[kind], strict=True))
    finally:
        await db.close()
    return tokens


@contextlib.asynccontextmanager
async def _serve(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str], dict[str, list[str]]]]:
    port = _free_port()
    env = {**os.environ, "PODIUM_PORT": str(port), "PODIUM_HOST": "127.0.0.1",
           "PODIUM_DATA_DIR": str(tmp_path), "PODIUM_SECRET_KEY": "test-secret",
           "PODIUM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'podium.db'}",
           "PODIUM_ICE_HOSTS": "127.0.0.1", "PODIUM_MEDIA_WORKERS": "1",
           # Everyone comes from 127.0.0.1 here: per-address limits would refuse the crowd.
           "PODIUM_RATE_SIGNIN": "1000/1"}
    migrate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podium.cli.main", "migrate", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    assert await asyncio.wait_for(migrate.wait(), 120) == 0
    tokens = await _accounts(env["PODIUM_DATABASE_URL"])
    log = (tmp_path / "server.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podium.cli.main", "serve", env=env, stdout=log,
        stderr=subprocess.STDOUT)
    try:
        await wait_listening(port, proc)
        yield f"http://127.0.0.1:{port}", env, tokens
    finally:
        if proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 20)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()


async def _speaker(url: str, env: dict[str, str], token: str,
                   tone: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podium.cli.main", "bot", "speak", "--server", url,
        "--create", "Storm", "--file", str(tone), env={**env, "PODIUM_TOKEN": token},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    room_id = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    while not (line := await asyncio.wait_for(proc.stdout.readline(), 60)).startswith(
            b"speaking"):
        assert line, "the speaker bot stopped"
    return proc, room_id


async def _listen(url: str, token: str, room_id: str) -> GapListener:
    listener = GapListener()
    async with httpx.AsyncClient(base_url=url + "/api/v1",
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        await listener.join(http, room_id)
    await listener.connected(60)
    listener.watch()
    return listener


async def _sign_in(url: str, username: str) -> int:
    async with httpx.AsyncClient(base_url=url + "/api/v1") as http:
        response = await http.post("/auth/signin", timeout=120, json={
            "username": username, "password": "storm-password"})
        return response.status_code


@pytest.mark.timeout(400)
async def test_sign_ins_and_joins_in_a_burst_leave_no_gap(tmp_path: Path) -> None:
    tone = tmp_path / "tone.wav"
    tone_wav(str(tone), 440, 2.0)
    listeners: list[GapListener] = []
    drainer = asyncio.create_task(drain_forever(listeners))
    async with _serve(tmp_path) as (url, env, tokens):
        speaker, room_id = await _speaker(url, env, tokens["host"][0], tone)
        try:
            sem = asyncio.Semaphore(10)

            async def steady(token: str) -> None:
                async with sem:
                    listeners.append(await _listen(url, token, room_id))

            await asyncio.gather(*(steady(t) for t in tokens["steady"]))
            steady_ones = list(listeners)
            await _all_hear(steady_ones)  # everyone hears the speaker before the burst

            start = time.time()
            results = await asyncio.gather(
                *(_paced(i * 0.02, _sign_in(url, f"signin{i}")) for i in range(SIGNINS)),
                *(_paced(i * 0.05, _listen(url, t, room_id))
                  for i, t in enumerate(tokens["joiner"])))
            codes, joined = results[:SIGNINS], results[SIGNINS:]
            listeners.extend(joined)  # type: ignore[arg-type]
            await _all_hear(joined)  # type: ignore[arg-type]
            end = time.time()
            for listener in steady_ones:
                listener.drain()  # everything that arrived before ``end``
            assert codes == [200] * SIGNINS, codes
            gaps = sorted(x.longest_gap(start, end) for x in steady_ones)
            assert gaps[-1] < MAX_GAP, (
                f"existing listeners' longest gaps (s) during the burst: {gaps[-5:]}")
        finally:
            speaker.terminate()
            await speaker.wait()
            drainer.cancel()
            for listener in listeners:
                await listener.close()


async def _all_hear(listeners: list[GapListener], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not all(x.arrivals for x in listeners):
        assert time.monotonic() < deadline, "some listeners never heard the speaker"
        await asyncio.sleep(0.05)  # polls packet arrival (kernel-timestamped), with a deadline


async def _paced(delay: float, work: object) -> object:
    await asyncio.sleep(delay)  # spreads the burst over a few seconds, as people arrive
    return await work  # type: ignore[misc]
