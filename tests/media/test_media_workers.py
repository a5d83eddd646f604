"""Peers in worker processes: mixing across workers, a killed worker, nothing left behind."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium.config import Settings
from podium.media.analysis import tone_present
from podium.media.embedded import EmbeddedEngine
from podium.media.engine import EngineStats
from podium.media.workers import WorkerPool

from .conftest import LOOPBACK, ROOM, Join, tail, wait_until

pytestmark = pytest.mark.media


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        ice_hosts=LOOPBACK,
        stun_urls=[],
        turn_urls=[],
        secret_key="test",
        data_dir=tmp_path,
        media_workers=2,
        media_listener_ptime_ms=40,
    )


@pytest.fixture
async def pool(engine: EmbeddedEngine) -> AsyncIterator[WorkerPool]:
    assert isinstance(engine.pool, WorkerPool)
    yield engine.pool


async def test_mix_reaches_listeners_on_every_worker(
    engine: EmbeddedEngine, pool: WorkerPool, join: Join, tones: dict[int, str]
) -> None:
    speaker_a, speaker_b = await join(1), await join(2)  # one per worker (fewest peers)
    listeners = [await join(uid) for uid in (3, 4)]
    assert sorted(len(w.peers) for w in pool._workers) == [2, 2]
    await engine.set_heard(ROOM, frozenset({1, 2}))
    speaker_a.play_file(tones[440])
    speaker_b.play_file(tones[660])
    for peer in listeners:
        await wait_until(
            lambda p=peer: tone_present(tail(p), 440) and tone_present(tail(p), 660),
            what="both speakers at a listener",
        )
    await wait_until(
        lambda: tone_present(tail(speaker_a), 660) and not tone_present(tail(speaker_a), 440),
        what="speaker A's mix-minus",
    )


async def test_killed_worker_reports_its_peers_gone_and_is_replaced(
    engine: EmbeddedEngine, pool: WorkerPool, join: Join, tones: dict[int, str]
) -> None:
    gone: list[tuple[str, int]] = []
    engine.set_callbacks(lambda room, levels: None, lambda room, uid: gone.append((room, uid)))
    for uid in (1, 2, 3, 4):
        await join(uid)
    victim = pool._workers[0]
    victims = sorted(uid for (_, uid) in victim.peers)
    assert victim.proc is not None
    os.kill(victim.proc.pid, signal.SIGKILL)
    await wait_until(lambda: len(gone) == len(victims), what="peers reported gone")
    assert sorted(uid for _, uid in gone) == victims
    assert engine.stats().peers == 4 - len(victims)
    await wait_until(lambda: pool.respawns == 1 and len(pool.pids()) == 2, what="respawn")
    # New connections work, and are heard across the replacement worker.
    speaker, listener = await join(victims[0]), await join(victims[1])
    await engine.set_heard(ROOM, frozenset({victims[0]}))
    speaker.play_file(tones[440])
    await wait_until(lambda: tone_present(tail(listener), 440), what="audio after respawn")


async def test_nothing_is_held_in_workers_after_everyone_leaves(
    engine: EmbeddedEngine, pool: WorkerPool, join: Join
) -> None:
    a, b = await join(1), await join(2)
    c = await join(3, room="room-2")
    await wait_until(lambda: engine.stats().peers == 3)
    assert sum(peers for _, peers, _ in await pool.worker_counts()) == 3
    await engine.disconnect(ROOM, 1)
    await b.close()  # remote close: the worker reports it gone
    await engine.close_room("room-2")
    await wait_until(lambda: engine.stats() == EngineStats(0, 0, 0), what="nothing held")
    assert await pool.worker_counts() == [(0, 0, 0), (0, 0, 0)]
    for peer in (a, c):
        await peer.close()
