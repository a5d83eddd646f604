"""The old all-aiortc engine stays selectable (benchmarks compare against it): smoke test."""

from __future__ import annotations

import pytest

from podium.config import Settings
from podium.media.analysis import tone_present
from podium.media.legacy import LegacyEngine
from podium.media.peer import ClientPeer

from .conftest import LOOPBACK, ROOM, tail, wait_until

pytestmark = pytest.mark.media


async def test_legacy_engine_still_mixes(settings: Settings, tones: dict[int, str]) -> None:
    engine = LegacyEngine(settings)
    await engine.start()
    peers: list[ClientPeer] = []
    try:
        for uid in (1, 2):
            peer = ClientPeer(ice_hosts=LOOPBACK)
            peers.append(peer)
            answer = await engine.connect(ROOM, uid, await peer.create_offer())
            await peer.accept_answer(answer)
            await peer.wait_connected(5.0)
        await engine.set_heard(ROOM, frozenset({1}))
        peers[0].play_file(tones[440])
        await wait_until(lambda: tone_present(tail(peers[1]), 440), what="legacy mix")
    finally:
        for peer in peers:
            await peer.close()
        await engine.close()
