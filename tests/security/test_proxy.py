"""Behind a trusted reverse proxy (``PODIUM_TRUSTED_PROXIES``) the client's address comes from
the right-most untrusted hop of ``Forwarded`` / ``X-Forwarded-For``; otherwise those headers are
ignored, and malformed ones never cause a 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from podium.api.proxy import ProxyHeaders, networks, resolve
from podium.config import Settings
from tests.api.helpers import anonymous, assert_error, member, ok

TRUSTED = networks(["10.0.0.0/8", "127.0.0.1/32", "fd00::/8"])


def headers(*pairs: tuple[str, str]) -> Headers:
    return Headers(raw=[(k.encode(), v.encode()) for k, v in pairs])


@pytest.mark.parametrize(("peer", "sent", "expected"), [
    # Not a trusted peer: its headers are not believed.
    ("203.0.113.9", [("x-forwarded-for", "198.51.100.77")], None),
    # The right-most untrusted hop; what the client wrote to its left is ignored.
    ("127.0.0.1", [("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.2.3")],
     ("198.51.100.7", None)),
    # Several header lines are one list, in order.
    ("127.0.0.1", [("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.8")],
     ("198.51.100.8", None)),
    ("127.0.0.1", [("x-forwarded-for", "198.51.100.7"), ("x-forwarded-proto", "https")],
     ("198.51.100.7", "https")),
    # Forwarded wins over X-Forwarded-For; quoted IPv6 with a port, obfuscated ports.
    ("127.0.0.1", [("forwarded", 'for=6.6.6.6, for="[2001:db8::1]:4711";proto=https'),
                   ("x-forwarded-for", "5.5.5.5")], ("2001:db8::1", "https")),
    ("127.0.0.1", [("forwarded", 'for="198.51.100.1:_port";by=10.0.0.1, for=10.0.0.2')],
     ("198.51.100.1", None)),
    ("::ffff:127.0.0.1", [("forwarded", "For=198.51.100.2;Proto=HTTPS")],
     ("198.51.100.2", "https")),
    # Every hop trusted: the left-most is the client.
    ("127.0.0.1", [("x-forwarded-for", "10.9.9.9, fd00::5")], ("10.9.9.9", None)),
    # Unknown, obfuscated or garbage hops: the proxy that wrote them is the client known.
    ("127.0.0.1", [("x-forwarded-for", "1.2.3.4, unknown")], ("127.0.0.1", None)),
    ("127.0.0.1", [("x-forwarded-for", "1.2.3.4, unknown, 10.0.0.3")], ("10.0.0.3", None)),
    ("127.0.0.1", [("forwarded", 'for=_hidden;proto=https')], ("127.0.0.1", None)),
    ("127.0.0.1", [("forwarded", ';;==,"",for="unterminated')], ("127.0.0.1", None)),
    ("127.0.0.1", [("x-forwarded-for", ",,, \x7f[::1"), ("x-forwarded-proto", "gopher")],
     ("127.0.0.1", None)),
    ("127.0.0.1", [], ("127.0.0.1", None)),
])
def test_the_client_is_the_right_most_untrusted_hop(
        peer: str, sent: list[tuple[str, str]], expected: tuple[str, str | None] | None) -> None:
    assert resolve(peer, headers(*sent), TRUSTED) == expected


def test_trusted_proxies_setting_is_a_list_of_networks() -> None:
    settings = Settings(secret_key="x", trusted_proxies="10.0.0.0/8, ::1")  # type: ignore[arg-type]
    assert settings.trusted_proxies == ["10.0.0.0/8", "::1"]
    assert Settings(secret_key="x").trusted_proxies == []
    with pytest.raises(ValueError, match="not-a-network"):
        Settings(secret_key="x", trusted_proxies=["not-a-network"])


async def run_scope(trusted: list[str], scope: Scope) -> Scope:
    seen: list[Scope] = []

    async def app(inner: Scope, receive: Receive, send: Send) -> None:
        seen.append(dict(inner))

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(_: Message) -> None:
        return None

    await ProxyHeaders(app, trusted)(scope, receive, send)
    return seen[0]


async def test_websocket_scopes_get_the_client_address_and_scheme() -> None:
    scope: Scope = {"type": "websocket", "client": ("127.0.0.1", 5000), "scheme": "ws",
                    "headers": [(b"x-forwarded-for", b"198.51.100.4"),
                                (b"x-forwarded-proto", b"https")]}
    seen = await run_scope(["127.0.0.0/8"], dict(scope))
    assert seen["client"] == ("198.51.100.4", 0) and seen["scheme"] == "wss"
    untouched = await run_scope([], dict(scope))  # the default trusts no proxy
    assert untouched["client"] == ("127.0.0.1", 5000) and untouched["scheme"] == "ws"


async def test_rate_limits_count_each_client_behind_the_proxy(
        make_server: Callable[..., Any]) -> None:
    async with make_server(rate_invite_check="2/60", trusted_proxies=["127.0.0.0/8"]) as server:
        guest = anonymous(server)

        async def check(address: str) -> int:
            response = await guest.get("/invites/nope", headers={"X-Forwarded-For": address})
            return response.status_code

        assert [await check("198.51.100.1") for _ in range(3)] == [404, 404, 429]
        assert await check("198.51.100.2") == 404  # another client has its own budget
        # A client cannot escape by writing its own hop to the left of the proxy's.
        assert await check("198.51.100.99, 198.51.100.1") == 429
        bad = await guest.get("/invites/nope", headers={
            "X-Forwarded-For": "[[[, unknown", "Forwarded": 'for="\\', "X-Forwarded-Proto": "?"})
        assert bad.status_code in (404, 429)  # counted against the proxy, never a 500


async def test_forwarded_headers_are_ignored_from_untrusted_peers(
        make_server: Callable[..., Any]) -> None:
    async with make_server(rate_invite_check="2/60") as server:  # no trusted proxies
        guest = anonymous(server)
        codes = [(await guest.get("/invites/nope",
                                  headers={"X-Forwarded-For": f"198.51.100.{i}"})).status_code
                 for i in range(3)]
        assert codes == [404, 404, 429]  # one client (the peer), whatever it claims


async def test_sign_in_throttling_uses_the_forwarded_address(
        make_server: Callable[..., Any]) -> None:
    async with make_server(lockout_failures_per_address=2, lockout_seconds=300,
                           trusted_proxies=["127.0.0.1"]) as server:
        await member(server, "alice")
        guest = anonymous(server)

        async def sign_in(address: str, password: str) -> Any:
            return await guest.post("/auth/signin", headers={"X-Forwarded-For": address},
                                    json={"username": "nobody", "password": password})

        for _ in range(2):
            assert_error(await sign_in("198.51.100.66", "wrong"), 401, "bad_credentials")
        assert_error(await sign_in("198.51.100.66", "wrong"), 429, "locked_out")
        ok(await guest.post("/auth/signin", headers={"X-Forwarded-For": "198.51.100.5"},
                            json={"username": "alice", "password": "password-alice"}))
