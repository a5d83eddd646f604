"""The benchmark baseline (benchmarks/legacy_engine.py) still works: smoke test.

It lives outside the product package but imports Podium's mixer, ICE and offer checks; this
keeps a change there from silently breaking the baseline that benchmarks compare against.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from podium.config import Settings
from podium.media.analysis import tone_present
from podium.media.peer import ClientPeer

from .conftest import LOOPBACK, ROOM, tail, wait_until

pytestmark = pytest.mark.media

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def legacy_engine(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A ``LegacyEngine``, imported the way bench_server.py does (its folder on sys.path)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("legacy_engine").LegacyEngine(settings)


def test_nothing_in_the_product_imports_the_baseline() -> None:
    src = Path(__file__).resolve().parents[2] / "src" / "podium"
    names = ("legacy_engine", "podium.media.legacy")
    importers = [p for p in src.rglob("*.py") if any(n in p.read_text() for n in names)]
    assert importers == []


async def test_legacy_engine_still_mixes(
    settings: Settings, tones: dict[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = legacy_engine(settings, monkeypatch)
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
