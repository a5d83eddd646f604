"""Fixtures for real-WebRTC tests: an engine and client peers on 127.0.0.1.

Run inside a loopback-only namespace:
``unshare -n sh -c 'ip link set lo up && exec /tmp/venv/bin/pytest tests/media -q'``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from podium.config import Settings
from podium.media.analysis import tone_wav
from podium.media.embedded import EmbeddedEngine
from podium.media.mixer import SAMPLE_RATE, Samples
from podium.media.peer import ClientPeer

LOOPBACK = ["127.0.0.1"]
ROOM = "room-1"

Join = Callable[..., Awaitable[ClientPeer]]


async def wait_until(
    predicate: Callable[[], bool], within: float = 5.0, what: str = "condition"
) -> None:
    """Await ``predicate()`` becoming true, with a hard deadline (never a bare sleep).

    Polling is deliberate: the conditions are about received audio, which has no event.
    """
    try:
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {within} s waiting for {what}") from None


async def record_more(peer: ClientPeer, seconds: float, within: float = 5.0) -> None:
    """Wait until ``peer`` has recorded ``seconds`` more audio than it has now."""
    target = len(peer.recorded()) + int(seconds * SAMPLE_RATE)
    await wait_until(lambda: len(peer.recorded()) >= target, within, f"{seconds}s more audio")


def tail(peer: ClientPeer, seconds: float = 0.4) -> Samples:
    return peer.recorded()[-int(seconds * SAMPLE_RATE) :]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # In-process peers (media_workers=0); test_media_workers.py covers worker processes.
    return Settings(
        ice_hosts=LOOPBACK,
        stun_urls=[],
        turn_urls=[],
        secret_key="test",
        data_dir=tmp_path,
        media_workers=0,
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[EmbeddedEngine]:
    eng = EmbeddedEngine(settings)
    await eng.start()
    yield eng
    await eng.close()


@pytest.fixture
async def join(engine: EmbeddedEngine) -> AsyncIterator[Join]:
    """``await join(user_id, room=ROOM)`` -> a connected ClientPeer."""
    peers: list[ClientPeer] = []

    async def _join(user_id: int, room: str = ROOM) -> ClientPeer:
        peer = ClientPeer(ice_hosts=LOOPBACK)
        peers.append(peer)
        offer = await peer.create_offer()
        answer = await engine.connect(room, user_id, offer)
        await peer.accept_answer(answer)
        await peer.wait_connected(5.0)
        return peer

    yield _join
    for peer in peers:
        await peer.close()


@pytest.fixture(scope="session")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    """Two-second looping test tones by frequency."""
    folder = tmp_path_factory.mktemp("tones")
    paths = {}
    for freq in (440, 660, 880):
        path = folder / f"tone{freq}.wav"
        tone_wav(str(path), freq, 2.0)
        paths[freq] = str(path)
    return paths
