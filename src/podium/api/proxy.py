"""The client's address and scheme behind trusted reverse proxies (``PODIUM_TRUSTED_PROXIES``).

Only when the direct peer is in one of the trusted networks are its ``Forwarded`` (RFC 7239)
or, failing that, ``X-Forwarded-For`` headers read. The list of hops is walked from the right
(the hop the nearest proxy added) past every trusted proxy: the first untrusted hop is the
client. Anything to its left was written by the client itself and may be forged, so it is
never used. A hop that is not an address (``unknown``, an obfuscated ``_name``, garbage) ends
the walk at the proxy that wrote it: the client is unknown, so the proxy is what is counted.

The ASGI middleware rewrites ``scope["client"]`` (and ``scope["scheme"]`` from
``X-Forwarded-Proto`` or ``proto=``) in place, for HTTP and WebSocket alike, so everything
that reads the client's address (rate limits, the sign-in lockout, access logs) sees the
client's. uvicorn's own ``proxy_headers`` stays off (``podium serve``): one place decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address
MAX_HOPS = 32  # a longer chain is not walked further (its left end is the client's own text)


def networks(specs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)


def parse_address(text: str) -> Address | None:
    """An address from a hop: ``1.2.3.4``, ``1.2.3.4:80``, ``[::1]``, ``[::1]:80``, ``::1``."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_elements(value: str) -> list[dict[str, str]]:
    """``Forwarded: for=1.2.3.4;proto=https, for="[::1]"`` as one dict per hop (lower-case
    names). Quoted strings may hold commas and semicolons; malformed pairs are skipped."""
    elements: list[dict[str, str]] = [{}]
    name, token, quoted, in_value = "", "", False, False
    for char in value + ",":
        if quoted:
            if char == '"':
                quoted = False
            else:
                token += char
        elif char == '"' and in_value:
            quoted = True
        elif char == "=" and not in_value:
            name, token, in_value = token.strip().lower(), "", True
        elif char in ";,":
            if in_value and name:
                elements[-1][name] = token.strip()
            name, token, in_value = "", "", False
            if char == ",":
                elements.append({})
        else:
            token += char
    return [element for element in elements if element]


def _trusted(address: Address | None, trusted: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in trusted)


def resolve(peer: str, headers: Headers,
            trusted: tuple[Network, ...]) -> tuple[str, str | None] | None:
    """(client address, scheme or None) from a trusted peer's headers; None to leave as is."""
    if not _trusted(parse_address(peer), trusted):
        return None
    forwarded = ",".join(headers.getlist("forwarded"))
    if forwarded:
        elements = _forwarded_elements(forwarded)[-MAX_HOPS:]
        hops = [element.get("for", "") for element in elements]
        protos: list[str | None] = [element.get("proto") for element in elements]
    else:
        hops = [h for v in headers.getlist("x-forwarded-for") for h in v.split(",")][-MAX_HOPS:]
        last = ",".join(headers.getlist("x-forwarded-proto")).split(",")[-1].strip()
        protos = [last or None] * len(hops)
    client: str = peer
    scheme: str | None = None
    for hop, hop_proto in zip(reversed(hops), reversed(protos), strict=True):
        address = parse_address(hop)
        if address is None:
            break  # "unknown" or garbage: the proxy that wrote it is the client we know
        client, scheme = str(address), hop_proto or scheme
        if not _trusted(address, trusted):
            break
    if scheme is not None:
        scheme = scheme.strip().lower()
        if scheme not in ("http", "https"):
            scheme = None
    return client, scheme


class ProxyHeaders:
    """Rewrites the client's address and scheme of requests that came through a trusted
    proxy; does nothing when no proxy is trusted."""

    def __init__(self, app: ASGIApp, trusted: Sequence[str]) -> None:
        self.app = app
        self.trusted = networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.trusted and scope["type"] in ("http", "websocket") and scope.get("client"):
            found = resolve(scope["client"][0], Headers(scope=scope), self.trusted)
            if found is not None:
                client, scheme = found
                scope["client"] = (client, 0)
                if scheme is not None:
                    secure = scheme == "https"
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = scheme
        await self.app(scope, receive, send)
