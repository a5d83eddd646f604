"""The HTTP edge: anonymous callers, malformed and oversized bodies, unknown ids, OpenAPI."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from tests.api.helpers import act, anonymous, assert_error, join_http, member, ok
from tests.conftest import Server

# Routes anyone may call: signing up and in (and out), checking an invite, the health check.
PUBLIC = {("POST", "/api/v1/auth/signup"), ("POST", "/api/v1/auth/signin"),
          ("POST", "/api/v1/auth/signout"), ("GET", "/api/v1/invites/{code}"),
          ("GET", "/api/v1/health")}

DOCUMENTED = {  # docs/api.md
    ("POST", "/api/v1/auth/signup"), ("POST", "/api/v1/auth/signin"),
    ("POST", "/api/v1/auth/signout"), ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/invites"), ("GET", "/api/v1/invites"), ("GET", "/api/v1/invites/{code}"),
    ("POST", "/api/v1/tokens"), ("GET", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/{token_id}"),
    ("GET", "/api/v1/users/{username}"), ("GET", "/api/v1/rooms"), ("POST", "/api/v1/rooms"),
    ("GET", "/api/v1/rooms/{room_id}"), ("GET", "/api/v1/rooms/{room_id}/audience"),
    *(("POST", f"/api/v1/rooms/{{room_id}}/{action}") for action in (
        "join", "leave", "rtc", "hand/raise", "hand/lower", "invitation/accept",
        "invitation/decline", "mute", "step-down", "speakers", "audience", "moderators",
        "muted", "hands/lower", "allowed", "end")),
}

# A body that would be valid for each route, so only the missing credentials can refuse it.
BODIES: dict[str, Any] = {
    "/api/v1/rooms": {"title": "x"}, "/api/v1/tokens": {"name": "x"},
    "/api/v1/rooms/{room_id}/mute": {"muted": True},
    "/api/v1/rooms/{room_id}/rtc": {"sdp": "v=0", "type": "offer"},
}
TARGETED = ("speakers", "audience", "moderators", "muted", "hands/lower", "allowed")


async def test_openapi_lists_every_route_and_anonymous_callers_get_401(server: Server) -> None:
    alice = await member(server, "alice")
    rid = ok(await alice.http.post("/rooms", json={"title": "Guarded"}), 201)["id"]
    await join_http(alice, rid)
    guest = anonymous(server)
    spec = ok(await guest.get("/openapi.json"))
    routes = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert routes >= DOCUMENTED, DOCUMENTED - routes
    assert spec["info"]["title"] == "Podium"

    checked = 0
    for method, path in sorted(routes - PUBLIC):
        url = (path.replace("{room_id}", rid).replace("{token_id}", "1")
               .replace("{username}", "alice").removeprefix("/api/v1"))
        url = re.sub(r"\{[a-z_]+\}", "x", url)
        body = BODIES.get(path)
        if body is None and any(path.endswith("/" + t) for t in TARGETED):
            body = {"user_id": alice.id}
        response = await guest.request(method, url, json=body)
        if (method, path) not in DOCUMENTED:
            # A route added since (public or not): at least it must not break.
            assert response.status_code < 500, (method, path, response.text)
            continue
        assert response.status_code == 401, (method, path, response.text)
        assert_error(response, 401, "unauthorized")
        checked += 1
    assert checked == len(DOCUMENTED - PUBLIC)
    # A garbage bearer token or cookie is no better than none.
    guest.headers["Authorization"] = "Bearer nope"
    assert_error(await guest.get("/rooms"), 401)
    del guest.headers["Authorization"]
    guest.cookies.set("podium_session", "nope")
    assert_error(await guest.post(f"/rooms/{rid}/join"), 401)
    assert (await alice.http.get(f"/rooms/{rid}")).json()["audience_count"] == 0
    ok(await guest.get("/health"))


async def _chunks(total: int) -> AsyncIterator[bytes]:
    chunk = b'{"title": "' + b"x" * 1024
    sent = len(chunk)
    yield chunk
    while sent < total:
        yield b"x" * 1024
        sent += 1024
    yield b'"}'


async def test_malformed_oversized_and_unknown_never_500(server: Server) -> None:
    alice = await member(server, "alice")
    bob = await member(server, "bob")
    rid = ok(await alice.http.post("/rooms", json={"title": "Edge"}), 201)["id"]
    await join_http(alice, rid)
    await join_http(bob, rid)
    headers = {"content-type": "application/json"}

    # Not JSON, not an object, wrong types.
    for raw in (b"{", b"not json", b"", b"[]", b"null", b'"title"', b"\xff\xfe"):
        assert_error(await alice.http.post("/rooms", content=raw, headers=headers), 422)
    for body in ({"user_id": "abc"}, {"user_id": -1}, {"user_id": 0}, {"user_id": 2**60},
                 {"user_id": 1.5}, {"user_id": None}, {"user_id": [bob.id]}, {"user_id": True},
                 {"user_id": bob.id, "extra": 1}, {}):
        response = await act(alice, rid, "speakers", **body) if body else (
            await alice.http.post(f"/rooms/{rid}/speakers", json={}))
        assert response.status_code == 422, (body, response.text)
        assert_error(response, 422)
    for body in ({"muted": "yes"}, {"muted": None}, {}, {"muted": 1}):
        response = await alice.http.post(f"/rooms/{rid}/mute", json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await alice.http.get(f"/rooms/{rid}")).json()["me"]["muted"] is False
    assert (await alice.http.get(f"/rooms/{rid}")).json()["audience_count"] == 1

    # Over 256 KiB: 413, whether the length is announced or the body is streamed.
    huge = {"title": "x", "description": "y" * (300 * 1024)}
    assert_error(await alice.http.post("/rooms", json=huge), 413, "too_large")
    assert_error(await alice.http.post("/rooms", content=_chunks(300 * 1024), headers=headers),
                 413, "too_large")
    # Just under the limit is read (and refused for what it says, not for its size).
    assert_error(await alice.http.post("/rooms", json={"title": "x", "d": "y" * 200_000}), 422)

    # Unknown or malformed room ids, users, tokens, routes and methods.
    for bad in ("nosuchroom", "0" * 12, "x" * 33, "bad$chars", "%00"):
        for method, path, body in (("GET", "", None), ("GET", "/audience", None),
                                   ("POST", "/join", None), ("POST", "/hand/raise", None),
                                   ("POST", "/speakers", {"user_id": bob.id}),
                                   ("POST", "/mute", {"muted": True}), ("POST", "/end", None)):
            response = await alice.http.request(method, f"/rooms/{bad}{path}", json=body)
            assert response.status_code in (404, 422), (bad, path, response.text)
            assert_error(response, response.status_code)
            if re.fullmatch(r"[A-Za-z0-9_-]{1,32}", bad):
                assert_error(response, 404, "room_not_found")
    assert_error(await alice.http.get("/users/nobody"), 404, "user_not_found")
    assert_error(await alice.http.delete("/tokens/123456"), 404, "token_not_found")
    assert_error(await alice.http.get("/no/such/route"), 404)
    assert_error(await alice.http.delete(f"/rooms/{rid}"), 405)
    assert_error(await alice.http.post("/rtc-nothing"), 404)

    # Audio: garbage SDP is refused as invalid input.
    response = await alice.http.post(f"/rooms/{rid}/rtc", json={"sdp": "garbage", "type": "offer"})
    assert response.status_code == 422, response.text
    assert_error(await alice.http.post(f"/rooms/{rid}/rtc", json={"sdp": "v=0", "type": "answer"}),
                 422)
    # Still serving normally after all that.
    assert (await alice.http.get(f"/rooms/{rid}")).json()["status"] == "live"
