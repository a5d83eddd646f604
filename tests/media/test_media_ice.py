"""ICE settings: pinned host addresses and never an implicit public STUN server."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import aioice.ice
import pytest

from podium.config import Settings
from podium.media import ice
from podium.media.analysis import tone_present
from podium.media.embedded import EmbeddedEngine
from podium.media.peer import ClientPeer

from .conftest import LOOPBACK, ROOM, tail, wait_until


def test_host_addresses_are_pinned_only_inside_the_block() -> None:
    ice.install()
    with ice.host_addresses(["127.0.0.1", "::1"]):
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == [
            "127.0.0.1",
            "::1",
        ]
    # Outside the block aioice's own lookup applies again (it never returns loopback).
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


def test_empty_hosts_means_aioice_default() -> None:
    with ice.host_addresses([]):
        assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)


def test_hosts_must_be_ip_addresses() -> None:
    with pytest.raises(ValueError):
        ice.validate_hosts(["localhost"])


def test_no_ice_servers_unless_configured() -> None:
    config = ice.rtc_configuration([])
    assert config.iceServers == []  # not None: None would make aiortc use Google's STUN


def test_stun_and_turn_servers_from_settings() -> None:
    config = ice.rtc_configuration(
        ["stun:stun.example.org:3478"], ["turn:turn.example.org:3478"], "user", "secret"
    )
    assert config.iceServers is not None
    stun, turn = config.iceServers
    assert stun.urls == ["stun:stun.example.org:3478"]
    assert (turn.urls, turn.username, turn.credential) == (
        ["turn:turn.example.org:3478"],
        "user",
        "secret",
    )


def test_the_engine_offers_the_configured_hosts_or_the_machines_own() -> None:
    assert ice.engine_hosts(["192.0.2.7"]) == ("192.0.2.7",)
    machine = [a for a in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)
               if not ipaddress.ip_address(a).is_loopback]
    assert ice.engine_hosts([]) == (() if machine else ("127.0.0.1",))


async def test_on_a_loopback_only_machine_the_default_engine_is_heard(
        tmp_path: Path, tones: dict[int, str]) -> None:
    """Tests run in a namespace whose only interface is loopback: the machine an offline
    laptop is. With no ``ice_hosts`` set, the engine used to offer no candidate at all."""
    # aioice skips only 127.0.0.1: other tests may have put 127.0.0.x on lo.
    assert all(ipaddress.ip_address(a).is_loopback
               for a in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)), \
        "this test needs a loopback-only network namespace (scripts/test makes one)"
    engine = EmbeddedEngine(Settings(ice_hosts=[], stun_urls=[], turn_urls=[],
                                     secret_key="test", data_dir=tmp_path, media_workers=0))
    await engine.start()
    peers = [ClientPeer(ice_hosts=LOOPBACK), ClientPeer(ice_hosts=LOOPBACK)]
    try:
        for user_id, peer in enumerate(peers, 1):
            answer = await engine.connect(ROOM, user_id, await peer.create_offer())
            assert "127.0.0.1" in answer.sdp
            await peer.accept_answer(answer)
            await peer.wait_connected(10.0)
        await engine.set_heard(ROOM, frozenset({1}))
        peers[0].play_file(tones[440])
        await wait_until(lambda: tone_present(tail(peers[1]), 440), what="440 Hz heard")
    finally:
        for peer in peers:
            await peer.close()
        await engine.close()
