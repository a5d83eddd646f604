"""The WebSocket is authenticated by a token or by the session cookie, never by one falling back
to the other, and the cookie only from Podium's own pages.

Cookies ignore ports: a page on another port of the same host (another app, a dev server) is
same-site, and the browser sends Podium's session cookie with its WebSocket handshakes. The
attack: such a page opened ``/api/v1/ws?token=`` (an empty token, so no Origin check), the
server fell back to the cookie, and the page joined a closed room and heard it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from podium.domain import commands as c
from tests.api.helpers import anonymous, member, ok
from tests.conftest import Server, _free_port
from tests.web.conftest import CHROMIUM, launch, pw, sign_in

__all__ = ["launch", "pw"]


async def _outcome(url: str, headers: dict[str, str]) -> str:
    """``hello`` if the server let the socket in, else its close code."""
    try:
        async with websockets.connect(url, additional_headers=headers) as ws:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            return str(frame["type"])
    except websockets.ConnectionClosed as exc:
        return str(exc.rcvd.code if exc.rcvd is not None else None)


async def _cookie(server: Server, username: str) -> str:
    await server.services.accounts.set_password(username, "password-" + username)
    http = anonymous(server)
    ok(await http.post("/auth/signin", json={"username": username,
                                              "password": "password-" + username}))
    return str(http.cookies["podium_session"])


async def test_a_token_never_falls_back_to_the_cookie(server: Server) -> None:
    alice = await member(server, "alice")
    cookie = f"podium_session={await _cookie(server, 'alice')}"
    base = server.url.replace("http://", "ws://") + "/api/v1/ws"
    port = server.url.rsplit(":", 1)[1]
    foreign = {"Cookie": cookie, "Origin": "http://127.0.0.1:1"}  # same host, another port
    own = {"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}
    refused = {
        "empty token": (f"{base}?token=", foreign),
        "empty token, no Origin": (f"{base}?token=", {"Cookie": cookie}),
        "empty token, own Origin": (f"{base}?token=", own),
        "wrong token": (f"{base}?token=pod_wrong", foreign),
        "cookie from another origin": (base, foreign),
        "empty Bearer header": (base, {**foreign, "Authorization": "Bearer "}),
        "another auth scheme": (base, {**foreign, "Authorization": "Basic YTpi"}),
    }
    for name, (url, headers) in refused.items():
        assert await _outcome(url, headers) == "4001", name
    # The ways in, so the refusals above are about the credential, not the socket.
    assert await _outcome(base, own) == "hello"
    assert await _outcome(base, {"Cookie": cookie}) == "hello"  # not a browser: no Origin
    assert await _outcome(f"{base}?token={alice.token}", foreign) == "hello"
    assert await _outcome(base, {"Authorization": f"Bearer {alice.token}"}) == "hello"


# The same attack from a real page in Chromium ------------------------------------------------

EVIL_PAGE = """<!doctype html><meta charset="utf-8"><title>evil</title><script>
window.results = {};
function probe(name, url) {
  return new Promise((done) => {
    const ws = new WebSocket(url);
    const seen = {hello: false, joined: false, code: null};
    ws.onmessage = (e) => {
      const frame = JSON.parse(e.data);
      if (frame.type === "hello") {
        seen.hello = true;
        ws.send(JSON.stringify({id: "j", type: "join", room_id: ROOM}));
      } else if (frame.id === "j" && frame.type === "reply") {
        seen.joined = true;
        ws.close();
      }
    };
    ws.onclose = (e) => { seen.code = e.code; window.results[name] = seen; done(); };
  });
}
const ROOM = new URLSearchParams(location.search).get("room");
const TARGET = new URLSearchParams(location.search).get("target");
(async () => {
  await probe("own", `ws://${location.host}/echo`);  // shows which cookies this browser sends
  await probe("empty token", `${TARGET}?token=`);
  await probe("no token", TARGET);
  await probe("wrong token", `${TARGET}?token=x`);
  window.done = true;
})();
</script>"""


@contextlib.asynccontextmanager
async def evil_site() -> AsyncIterator[tuple[str, list[str]]]:
    """Another app on another port of the same host; it records the cookies it is sent."""
    cookies: list[str] = []

    async def page(_: Any) -> HTMLResponse:
        return HTMLResponse(EVIL_PAGE)

    async def echo(ws: WebSocket) -> None:
        cookies.append(ws.headers.get("cookie", ""))
        await ws.accept()
        await ws.close(1000)

    app = Starlette(routes=[Route("/evil", page), WebSocketRoute("/echo", echo)])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)  # start-up poll: uvicorn offers no event to await
    try:
        yield f"http://127.0.0.1:{port}", cookies
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.mark.browser
@pytest.mark.skipif(not (os.environ.get("CI") or Path(CHROMIUM).exists()),
                    reason="no Chromium (scripts/test installs it)")
async def test_a_same_site_page_cannot_use_the_members_cookie(
        make_server: Callable[..., Any], launch: Callable[..., Any]) -> None:
    async with make_server() as server, evil_site() as (evil, cookies):
        accounts, rooms = server.services.accounts, server.services.rooms
        host = await accounts.create_user("host", "Host", "password-host")
        alice = await accounts.create_user("alice", "Alice", "password-alice")
        live = await rooms.create(host, "Secret", "", "closed")
        await rooms.join(live.room_id, host, "test")
        # Alice may join the closed room; a page of another site must not, as her.
        await rooms.execute(live.room_id, c.AllowUser(host.id, alice.id))

        browser = await launch()
        context = await browser.new_context(base_url=server.url)
        page = await context.new_page()
        await sign_in(page, "alice")
        target = server.url.replace("http://", "ws://") + "/api/v1/ws"
        await page.goto(f"{evil}/evil?room={live.room_id}&target={target}")
        await page.wait_for_function("window.done === true", timeout=20_000)
        results = await page.evaluate("window.results")

        assert any("podium_session=" in c for c in cookies), (
            "Chromium did not send Podium's cookie to another port: the test proves nothing")
        for name in ("empty token", "no token", "wrong token"):
            assert results[name] == {"hello": False, "joined": False, "code": 4001}, (
                name, results[name])
        assert alice.id not in rooms.rooms[live.room_id].state.members
