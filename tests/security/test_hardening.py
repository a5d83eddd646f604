"""Security headers, CSRF, cookies and sessions, secrets, user text, production settings."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from podium.api.security import CSRF_HEADER, content_security_policy
from podium.config import Settings
from podium.services.security import digest, new_secret
from podium.services.text import TextError, clean_text
from tests.api.helpers import assert_error, member, ok
from tests.conftest import Server

PAGES = ["/", "/signin", "/room/abc", "/static/js/app.js", "/static/app.css",
         "/api/v1/health", "/api/v1/openapi.json", "/api/v1/nope", "/api/v1/rooms"]


def raw(server: Server, **headers: str) -> httpx.AsyncClient:
    """A plain client: no CSRF header, no token, unless given."""
    client = httpx.AsyncClient(base_url=server.url, headers=headers)
    server._clients.append(_Closer(client))  # type: ignore[arg-type]
    return client


class _Closer:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def close(self) -> None:
        await self.client.aclose()


async def signed_in(server: Server, name: str) -> httpx.AsyncClient:
    """A browser-like client holding a session cookie (sends the CSRF header and Origin)."""
    await member(server, name)
    client = raw(server, **{CSRF_HEADER: "1", "Origin": server.url})
    ok(await client.post("/api/v1/auth/signin",
                         json={"username": name, "password": "password-" + name}))
    return client


async def test_every_response_carries_the_security_headers(server: Server) -> None:
    client = raw(server)
    for path in PAGES:
        response = await client.get(path)
        headers = response.headers
        assert headers["content-security-policy"] == content_security_policy(server.settings)
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] in ("no-referrer", "same-origin")
        assert "microphone=(self)" in headers["permissions-policy"]
        assert "camera=()" in headers["permissions-policy"]
        if path.startswith("/api/"):
            assert headers["cache-control"] == "no-store", path
    too_big = await client.post("/api/v1/rooms", content=b"x" * 300_000,
                                headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413 and "content-security-policy" in too_big.headers
    csp = content_security_policy(server.settings)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and "unsafe" not in csp
    assert directives["style-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["default-src"] == "'self'"
    # The page itself has no inline script or style for the policy to block.
    html = (await client.get("/")).text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html and " on" not in html.lower().replace(
        " content=", "")


async def test_api_docs_allow_exactly_their_own_inline_scripts(server: Server) -> None:
    response = await raw(server).get("/api/v1/docs")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    inline = [body for body in re.findall(r"<script>(.*?)</script>", response.text, re.S)
              if body.strip()]
    assert inline
    for body in inline:
        digest_ = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest_}'" in csp


async def test_hsts_and_secure_cookie_when_public_url_is_https(
        make_server: Callable[..., Any]) -> None:
    async with make_server(public_url="https://podium.example") as server:
        await member(server, "alice")
        client = raw(server)
        response = await client.post("/api/v1/auth/signin",
                                     json={"username": "alice", "password": "password-alice"})
        parts = [p.strip().lower() for p in response.headers["set-cookie"].split(";")]
        assert {"httponly", "samesite=lax", "secure"} <= set(parts)
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert "wss://podium.example" in response.headers["content-security-policy"]
        # Behind its proxy the server is asked for its public origin: that origin is ours.
        client.headers[CSRF_HEADER] = "1"
        client.headers["Origin"] = "https://podium.example"
        ok(await client.post("/api/v1/auth/signout"))


async def test_cookie_requests_need_the_csrf_header_and_our_origin(server: Server) -> None:
    browser = await signed_in(server, "alice")
    ok(await browser.post("/api/v1/rooms", json={"title": "Fine"}), 201)

    del browser.headers[CSRF_HEADER]
    refused = await browser.post("/api/v1/rooms", json={"title": "Forged"})
    assert_error(refused, 403, "csrf_failed")
    assert_error(await browser.post("/api/v1/auth/signout"), 403, "csrf_failed")
    assert_error(await browser.delete("/api/v1/tokens/1"), 403, "csrf_failed")
    ok(await browser.get("/api/v1/auth/me"))  # reading needs no header
    browser.headers[CSRF_HEADER] = "yes"
    assert_error(await browser.post("/api/v1/rooms", json={"title": "Forged"}), 403)
    browser.headers[CSRF_HEADER] = "1"

    for origin in ("https://evil.example", "null", server.url + ".evil.example",
                   server.url.replace("127.0.0.1", "localhost")):
        browser.headers["Origin"] = origin
        assert_error(await browser.post("/api/v1/rooms", json={"title": "x"}), 403, "csrf_failed")
    del browser.headers["Origin"]
    browser.headers["Referer"] = "https://evil.example/page"
    assert_error(await browser.post("/api/v1/rooms", json={"title": "x"}), 403, "csrf_failed")
    browser.headers["Referer"] = server.url + "/room/abc"
    ok(await browser.post("/api/v1/rooms", json={"title": "Referred"}), 201)
    rooms = ok(await browser.get("/api/v1/rooms"))["rooms"]
    assert sorted(r["title"] for r in rooms) == ["Fine", "Referred"]


async def test_bearer_requests_are_exempt_and_sign_in_checks_origin(server: Server) -> None:
    alice = await member(server, "alice")
    # A token is never sent by a browser on its own: no header needed, any origin.
    bot = raw(server, Authorization=f"Bearer {alice.token}", Origin="https://elsewhere.example")
    ok(await bot.post("/api/v1/rooms", json={"title": "Bot room"}), 201)
    # Signing in from another site's form (login CSRF) is refused; from ours it works.
    body = {"username": "alice", "password": "password-alice"}
    assert_error(await raw(server, Origin="https://evil.example").post(
        "/api/v1/auth/signin", json=body), 403, "csrf_failed")
    ok(await raw(server, Origin=server.url).post("/api/v1/auth/signin", json=body))
    ok(await raw(server).post("/api/v1/auth/signin", json=body))  # scripts send no Origin


async def test_sessions_rotate_at_sign_in_and_end_at_sign_out(server: Server) -> None:
    browser = await signed_in(server, "alice")
    first = browser.cookies["podium_session"]
    ok(await browser.post("/api/v1/auth/signin",
                          json={"username": "alice", "password": "password-alice"}))
    second = browser.cookies["podium_session"]
    assert second != first
    stale = raw(server)
    stale.cookies.set("podium_session", first)
    assert_error(await stale.get("/api/v1/auth/me"), 401)  # the old session ended
    ok(await browser.get("/api/v1/auth/me"))

    other = raw(server, **{CSRF_HEADER: "1"})
    ok(await other.post("/api/v1/auth/signin",
                        json={"username": "alice", "password": "password-alice"}))
    ok(await browser.post("/api/v1/auth/signout"))
    replay = raw(server)
    replay.cookies.set("podium_session", second)
    assert_error(await replay.get("/api/v1/auth/me"), 401)
    ok(await other.get("/api/v1/auth/me"))  # signing out one session leaves the others

    # A new password ends every session made with the old one.
    await server.services.accounts.set_password("alice", "a-new-password")
    assert_error(await other.get("/api/v1/auth/me"), 401)


def test_production_mode_needs_a_secret_key(tmp_path: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PODIUM_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="PODIUM_SECRET_KEY is required"):
        Settings(mode="production", data_dir=tmp_path)
    assert not (tmp_path / "secret_key").exists()  # nothing generated either
    monkeypatch.setenv("PODIUM_MODE", "production")
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path)
    assert Settings(data_dir=tmp_path, secret_key="s" * 40).secret_key == "s" * 40


def test_media_settings_from_the_environment(tmp_path: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_MEDIA_LISTENER_PTIME_MS", "40")
    monkeypatch.setenv("PODIUM_MEDIA_PASSTHROUGH", "false")
    settings = Settings(data_dir=tmp_path)
    assert settings.media_listener_ptime_ms == 40 and settings.media_passthrough is False
    monkeypatch.setenv("PODIUM_MEDIA_LISTENER_PTIME_MS", "30")
    with pytest.raises(ValidationError, match="media_listener_ptime_ms"):
        Settings(data_dir=tmp_path)


def test_production_server_refuses_to_start_without_a_secret(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    env.update(PODIUM_MODE="production", PODIUM_DATA_DIR=str(tmp_path), PODIUM_PORT="1")
    result = subprocess.run([sys.executable, "-m", "podium.cli.main", "serve"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "PODIUM_SECRET_KEY" in result.stderr + result.stdout


def test_secrets_have_at_least_128_unknown_bits_and_are_stored_hashed() -> None:
    codes = {new_secret() for _ in range(1000)}
    assert len(codes) == 1000
    for code in list(codes)[:50]:
        raw_bytes = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
        assert len(raw_bytes) * 8 >= 256
        # Invites show their first 6 characters, tokens "pod_" + 4: > 128 bits stay hidden.
        assert (len(code) - 6) * 6 >= 128
        assert digest(code) != code and len(digest(code)) == 64
    assert digest("\ud800") == digest("\ud800")  # lone surrogates cannot crash a lookup


async def test_secrets_in_the_database_are_digests(server: Server) -> None:
    from sqlalchemy import select

    from podium.storage.tables import ApiToken, Invite, Session

    alice = await member(server, "alice")
    invite = ok(await alice.http.post("/invites"), 201)
    await signed_in(server, "bob")
    async with server.services.db.transaction() as s:
        stored = [*(await s.scalars(select(ApiToken.token_hash))),
                  *(await s.scalars(select(Invite.code_hash))),
                  *(await s.scalars(select(Session.token_hash)))]
    assert digest(alice.token) in stored and digest(invite["code"]) in stored
    assert alice.token not in stored and invite["code"] not in stored
    assert all(re.fullmatch(r"[0-9a-f]{64}", value) for value in stored)


@pytest.mark.parametrize(("given", "expected"), [
    ("  Ann \t Lee ", "Ann Lee"),
    ("Cafe\u0301", "Caf\u00e9"),                       # NFC
    ("a\u202eevil\u202c b", "aevil b"),                # bidi override
    ("zero\u200bwidth\ufeff", "zerowidth"),
    ("bell\x07 null\x00 esc\x1b[31m", "bell null esc[31m"),
    ("lone \ud800 surrogate", "lone surrogate"),
    ("family \U0001F468\u200d\U0001F469", "family \U0001F468\u200d\U0001F469"),  # ZWJ stays
    ("line\u2028sep", "line sep"),
])
def test_clean_text(given: str, expected: str) -> None:
    assert clean_text(given, max_length=50) == expected


def test_clean_text_limits_and_multiline() -> None:
    assert clean_text("a\r\n\n\n\n b \x00\nc", max_length=50, multiline=True) == "a\n\nb\nc"
    for bad in ("", "   ", "\u200b\u202e", "x" * 51):
        with pytest.raises(TextError):
            clean_text(bad, max_length=50)
    assert clean_text("", max_length=5, min_length=0) == ""


async def test_user_text_is_cleaned_at_the_edge(server: Server) -> None:
    alice = await member(server, "alice")
    room = ok(await alice.http.post("/rooms", json={
        "title": " Late\u202e night\x00 ", "description": "one\r\n\n\n\ntwo\u200b"}), 201)
    assert room["title"] == "Late night"
    view = ok(await alice.http.get(f"/rooms/{room['id']}"))
    assert view["description"] == "one\n\ntwo"
    # Lone surrogates (valid JSON escapes, invalid text) never reach the database.
    for body in ({"title": "ok\ud800"}, {"title": "x", "description": "\ud800"}):
        response = await alice.http.post("/rooms", content=json.dumps(body),
                                         headers={"Content-Type": "application/json"})
        assert_error(response, 422)
    assert_error(await alice.http.post("/rooms", json={"title": "\u200b\u202e\x01"}), 422)
    token = ok(await alice.http.post("/tokens", json={"name": "ci\x1b[2J bot"}), 201)
    assert token["name"] == "ci[2J bot"
    assert_error(await alice.http.post("/tokens", json={"name": "\x00\x01"}), 422)
    invite = ok(await alice.http.post("/invites"), 201)["code"]
    guest = raw(server, **{CSRF_HEADER: "1"})
    user = ok(await guest.post("/api/v1/auth/signup", json={
        "invite": invite, "username": "eve", "display_name": "Eve\u202e\u0301 <b>",
        "password": "password-eve"}), 201)
    assert user["display_name"] == "Ev\u00e9 <b>"
    for path, body in (("/api/v1/auth/signin", {"username": "\ud800", "password": "x"}),
                       ("/api/v1/auth/signup", {"invite": "\ud800", "username": "zed",
                                                "display_name": "Z", "password": "password-z"})):
        response = await guest.post(path, content=json.dumps(body),
                                    headers={"Content-Type": "application/json"})
        assert_error(response, 422)


async def test_websocket_checks_the_origin_of_cookie_connections(server: Server) -> None:
    import websockets

    from tests.realtime.helpers import ws_url

    browser = await signed_in(server, "alice")
    cookie = {"Cookie": f"podium_session={browser.cookies['podium_session']}"}

    async def first_frame(url: str, headers: dict[str, str]) -> Any:
        async with websockets.connect(url, additional_headers=headers) as ws:
            try:
                return json.loads(await ws.recv())["type"]
            except websockets.ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None

    assert await first_frame(ws_url(server), {**cookie, "Origin": server.url}) == "hello"
    assert await first_frame(ws_url(server), cookie) == "hello"  # not a browser: no Origin
    for origin in ("https://evil.example", "null", server.url + ".evil.example"):
        assert await first_frame(ws_url(server), {**cookie, "Origin": origin}) == 4001
    # A token is never sent by a browser on its own: any origin may use one.
    alice = await member(server, "bob")
    assert await first_frame(ws_url(server, alice.token),
                             {"Origin": "https://elsewhere.example"}) == "hello"
