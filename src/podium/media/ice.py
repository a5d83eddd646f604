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
* **Remote addresses.** ICE sends checks to whatever the remote side names: the candidates of
  its offer, and the source address of any authenticated check it sends (a peer-reflexive
  candidate). ``RemoteAddresses`` (``Settings.ice_remote_networks``) says which addresses may
  be checked: ``podium.media.offer`` drops the offer's other candidates, ``ignore_checks_from``
  the other checks (aioice 0.13.0: ``StunProtocol.datagram_received`` calls
  ``Connection.request_received`` on the instance, which answers, learns the address and
  checks it back).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

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


def engine_hosts(configured: Sequence[str]) -> tuple[str, ...]:
    """The server's ICE host addresses: the setting, else the machine's own addresses (what
    aioice gathers), else loopback. aioice skips loopback, so a machine whose only interface
    is loopback (a laptop offline, a container with no network) would offer no candidate at
    all and every room would be silent."""
    hosts = validate_hosts(configured)
    if hosts or any(not _is_loopback(a) for a in _original_get_host_addresses(True, True)):
        return hosts
    return ("127.0.0.1",)


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


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # "this host on this network": never a peer


_KINDS = ("is_loopback", "is_link_local", "is_multicast", "is_unspecified", "is_reserved")


def _kinds(address: Address) -> set[str]:
    """What makes an address one a remote peer cannot have: loopback, link-local, multicast,
    unspecified, reserved (255.255.255.255 included) or "this network" (0.0.0.0/8)."""
    kinds = {kind for kind in _KINDS if getattr(address, kind)}
    if address in _THIS_NETWORK:
        kinds.add("this network")
    return kinds


def _special_network(network: Network) -> bool:
    """A network of one such kind (``127.0.0.0/8``; not ``0.0.0.0/0``, whose ends differ)."""
    return bool(_kinds(network.network_address) & _kinds(network.broadcast_address))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RemoteAddresses:
    """The remote addresses ICE may send checks to.

    With ``networks``: the addresses in them; a loopback, link-local, multicast or reserved
    address only if a network that is itself of that kind names it (``127.0.0.0/8`` does,
    ``0.0.0.0/0`` does not). Without: any other unicast address (public, private, CGNAT),
    and loopback when ``loopback`` (the engine's own ICE hosts are loopback: tests,
    benchmarks). Host names, ``*.local`` mDNS names included, are never allowed: resolving
    them would mean DNS lookups or multicast queries chosen by the remote side.
    """

    def __init__(self, networks: Sequence[str] = (), loopback: bool = False) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in networks
        )
        self.loopback = loopback

    @classmethod
    def for_hosts(cls, networks: Sequence[str], hosts: Sequence[str]) -> RemoteAddresses:
        """The setting, with loopback allowed when one of the engine's ``ice_hosts`` is."""
        return cls(networks, any(_is_loopback(h) for h in hosts))

    def allows(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if self.networks:
            return any(
                address in n and (not _kinds(address) or _special_network(n))
                for n in self.networks
            )
        return not _kinds(address) or (self.loopback and address.is_loopback)


def ignore_checks_from(ice_transport: Any, remote: RemoteAddresses) -> None:
    """Drop STUN requests (ICE checks) from addresses ``remote`` does not allow, before aioice
    answers them or checks the address back (``RTCIceTransport._connection``, see the module
    docstring). Install before ICE starts."""
    connection = ice_transport._connection
    original = connection.request_received

    def request_received(message: Any, addr: tuple[Any, ...], protocol: Any) -> None:
        if remote.allows(str(addr[0])):
            original(message, addr, protocol)

    connection.request_received = request_received
