"""ICE plumbing shared by the server engine and the client peer.

Two jobs:

* **Host addresses.** aioice gathers host candidates from ``aioice.ice.get_host_addresses``,
  which skips loopback. Podium must be able to pin the addresses (``Settings.ice_hosts``,
  ``ClientPeer(ice_hosts=...)``) so tests and benchmarks run on 127.0.0.1 inside a
  loopback-only namespace, and so operators can choose which interfaces to offer. We replace
  that one module-level function (aioice 0.13.0 calls it by global name from
  ``Connection.gather_candidates``) with a wrapper that reads a ``ContextVar``; the value is
  set only around our own ``setLocalDescription`` calls, so the server and a client in the
  same process can use different lists and everything else keeps aioice's behaviour.
* **ICE servers.** aiortc falls back to Google's public STUN server when ``iceServers`` is
  ``None``. Podium never wants that, so ``rtc_configuration`` always passes an explicit list.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import aioice
import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

log = logging.getLogger(__name__)

TESTED_AIOICE_VERSION = "0.13.0"

_hosts_override: ContextVar[tuple[str, ...] | None] = ContextVar("podium_ice_hosts", default=None)
_original_get_host_addresses = aioice.ice.get_host_addresses
_installed = False


def validate_hosts(hosts: Sequence[str]) -> tuple[str, ...]:
    """Return the hosts as a tuple; raise ``ValueError`` for anything that is not an IP."""
    for host in hosts:
        ipaddress.ip_address(host)  # raises ValueError with a readable message
    return tuple(hosts)


def _patched_get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    hosts = _hosts_override.get()
    if not hosts:
        return _original_get_host_addresses(use_ipv4, use_ipv6)
    wanted: list[str] = []
    for host in hosts:
        is_v6 = ipaddress.ip_address(host).version == 6
        if (is_v6 and use_ipv6) or (not is_v6 and use_ipv4):
            wanted.append(host)
    return wanted


def install() -> None:
    """Route aioice's host-address lookup through Podium (idempotent)."""
    global _installed
    if _installed:
        return
    if aioice.__version__ != TESTED_AIOICE_VERSION:
        # The patch relies on aioice calling the module-level function by name.
        log.warning(
            "aioice %s is not the tested %s; ice_hosts may be ignored",
            aioice.__version__,
            TESTED_AIOICE_VERSION,
        )
    aioice.ice.get_host_addresses = _patched_get_host_addresses
    _installed = True


@contextmanager
def host_addresses(hosts: Sequence[str]) -> Iterator[None]:
    """Gather candidates on exactly ``hosts`` inside this block (empty = aioice's default).

    Candidate gathering runs in tasks created from the current task, which inherit this
    context, so wrapping ``await pc.setLocalDescription(...)`` is enough.
    """
    install()
    token = _hosts_override.set(tuple(hosts) or None)
    try:
        yield
    finally:
        _hosts_override.reset(token)


def ice_servers(
    stun_urls: Sequence[str],
    turn_urls: Sequence[str] = (),
    turn_username: str = "",
    turn_password: str = "",
) -> list[RTCIceServer]:
    servers: list[RTCIceServer] = []
    if stun_urls:
        servers.append(RTCIceServer(urls=list(stun_urls)))
    if turn_urls:
        servers.append(
            RTCIceServer(
                urls=list(turn_urls),
                username=turn_username or None,
                credential=turn_password or None,
            )
        )
    return servers


def rtc_configuration(
    stun_urls: Sequence[str],
    turn_urls: Sequence[str] = (),
    turn_username: str = "",
    turn_password: str = "",
) -> RTCConfiguration:
    """An explicit configuration: with no URLs configured there is no STUN/TURN at all."""
    return RTCConfiguration(
        iceServers=ice_servers(stun_urls, turn_urls, turn_username, turn_password)
    )
