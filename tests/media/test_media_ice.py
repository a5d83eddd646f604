"""ICE settings: pinned host addresses and never an implicit public STUN server."""

from __future__ import annotations

import aioice.ice
import pytest

from podium.media import ice


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
