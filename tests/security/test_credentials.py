"""A credential that stops working ends what it opened: revoking an API token, signing out,
a new password (even set by `podium admin reset-password` in another process) or a sign-in that
replaces the browser's session close the WebSockets that used it (4001) and hang up their audio.

Before this, a socket whose token had been revoked went on raising hands, accepting invitations
and being heard on stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from podium.cli.bot import connect_audio
from podium.client import PodiumClient
from podium.media.analysis import tone_wav
from podium.services.accounts import AccountService
from podium.storage.db import Database
from tests.api.helpers import Member, anonymous, eventually, member, ok
from tests.conftest import Server
from tests.e2e.audio import hears, record_after
from tests.realtime.helpers import RawSocket

CLOSED_WITHIN = 5.0  # seconds: a functional bound (the promise is one second), not a timing


async def _room(server: Server, host: Member) -> str:
    room = ok(await host.http.post("/rooms", json={"title": "Credentials"}), 201)
    return str(room["id"])


async def _socket_in(server: Server, room_id: str, **auth: Any) -> RawSocket:
    sock = await RawSocket.open(server, **auth)
    hello = await sock.recv()
    assert hello["type"] == "hello", hello
    await sock.send({"id": "j", "type": "join", "room_id": room_id})
    await sock.until(lambda f: f.get("id") == "j")
    return sock


async def _second_token(server: Server, m: Member) -> tuple[int, str]:
    row, token = await server.services.accounts.create_token(m.id, "second")
    return row.id, token


async def _cookie_for(server: Server, m: Member) -> tuple[httpx.AsyncClient, str]:
    http = anonymous(server)
    response = await http.post("/auth/signin", json={"username": m.account.username,
                                                      "password": "password-"
                                                      + m.account.username})
    ok(response)
    return http, http.cookies["podium_session"]


async def test_revoking_a_token_closes_its_sockets_and_nothing_they_send_counts(
        server: Server) -> None:
    host, alice = await member(server, "host"), await member(server, "alice")
    room_id = await _room(server, host)
    token_id, token = await _second_token(server, alice)
    revoked = await _socket_in(server, room_id, headers={"Authorization": f"Bearer {token}"})
    by_query = await _socket_in(server, room_id, token=token)
    other = await _socket_in(server, room_id, token=alice.token)  # her other token stays

    ok(await alice.http.delete(f"/tokens/{token_id}"))
    # Sent after the revocation returned: it must not be acted on.
    await revoked.send({"id": "h", "type": "raise_hand"})
    assert await revoked.close_code(CLOSED_WITHIN) == 4001
    assert await by_query.close_code(CLOSED_WITHIN) == 4001
    live = server.services.rooms.rooms[room_id]
    assert alice.id not in [m.user_id for m in live.state.hand_queue], \
        "a revoked token's socket raised a hand"

    await other.send({"id": "p", "type": "raise_hand"})
    reply = await other.until(lambda f: f.get("id") == "p")
    assert reply["type"] == "reply", reply
    # The revoked session cannot be resumed, with the token or without it.
    again = await RawSocket.open(server, token=token)
    assert await again.close_code(CLOSED_WITHIN) == 4001


async def test_signing_out_closes_the_sockets_of_that_session_only(server: Server) -> None:
    host, alice = await member(server, "host"), await member(server, "alice")
    await server.services.accounts.set_password("alice", "password-alice")
    room_id = await _room(server, host)
    http, cookie = await _cookie_for(server, alice)
    _, other_cookie = await _cookie_for(server, alice)  # another browser of hers
    mine = await _socket_in(server, room_id, headers={"Cookie": f"podium_session={cookie}"})
    theirs = await _socket_in(server, room_id,
                              headers={"Cookie": f"podium_session={other_cookie}"})

    ok(await http.post("/auth/signout", headers={"X-Podium-CSRF": "1"}))
    assert await mine.close_code(CLOSED_WITHIN) == 4001
    await theirs.send({"id": "p", "type": "ping"})
    assert (await theirs.until(lambda f: f.get("type") == "pong"))["type"] == "pong"


async def test_signing_in_again_ends_the_replaced_sessions_sockets(server: Server) -> None:
    host, alice = await member(server, "host"), await member(server, "alice")
    await server.services.accounts.set_password("alice", "password-alice")
    room_id = await _room(server, host)
    http, cookie = await _cookie_for(server, alice)
    sock = await _socket_in(server, room_id, headers={"Cookie": f"podium_session={cookie}"})
    # The same browser signs in again: its old session ends, and with it the socket.
    ok(await http.post("/auth/signin", headers={"X-Podium-CSRF": "1"},
                       json={"username": "alice", "password": "password-alice"}))
    assert http.cookies["podium_session"] != cookie
    assert await sock.close_code(CLOSED_WITHIN) == 4001


async def test_a_password_reset_from_another_process_closes_session_sockets(
        server: Server) -> None:
    """`podium admin reset-password` runs in its own process: the server hears of it through
    the database, not through memory."""
    host, alice = await member(server, "host"), await member(server, "alice")
    await server.services.accounts.set_password("alice", "password-alice")
    room_id = await _room(server, host)
    _, cookie = await _cookie_for(server, alice)
    by_cookie = await _socket_in(server, room_id, headers={"Cookie": f"podium_session={cookie}"})
    by_token = await _socket_in(server, room_id, token=alice.token)  # API tokens stay

    db = Database(server.settings.database_url)  # what the command line makes for itself
    try:
        cli = AccountService(db, server.clock, server.settings)
        await cli.set_password("alice", "a-new-password")
    finally:
        await db.close()
    assert await by_cookie.close_code(CLOSED_WITHIN) == 4001
    await by_token.send({"id": "p", "type": "ping"})
    assert (await by_token.until(lambda f: f.get("type") == "pong"))["type"] == "pong"
    response = await anonymous(server).get("/auth/me",
                                           headers={"Cookie": f"podium_session={cookie}"})
    assert response.status_code == 401


@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_a_suspension_closes_sockets_with_4003(server: Server) -> None:
    host, alice = await member(server, "host"), await member(server, "alice")
    room_id = await _room(server, host)
    sock = await _socket_in(server, room_id, token=alice.token)
    await server.services.accounts.set_suspended(alice.id, True)
    assert await sock.close_code(CLOSED_WITHIN) == 4003


@pytest.mark.media
@pytest.mark.parametrize("db_kind", ["sqlite"])
async def test_a_revoked_speakers_audio_is_hung_up(server: Server, tmp_path: Path) -> None:
    """On stage and heard with a token that is then revoked: not heard from then on (the
    audio connection the token opened is closed, not only the socket)."""
    tones = {}
    for freq in (440, 660):
        tones[freq] = str(tmp_path / f"tone{freq}.wav")
        tone_wav(tones[freq], freq, 2.0)
    host = await server.user("host")
    room_id = (await host.create_room("Heard"))["id"]
    host_rt = await host.connect()
    await host_rt.join(room_id)
    host_peer = await connect_audio(host_rt)
    host_peer.play_file(tones[440])
    speaker_account = await server.services.accounts.create_user("spk", "Spk", "password-spk")
    row, token = await server.services.accounts.create_token(speaker_account.id, "bot")
    speaker = PodiumClient(server.url, token)
    speaker_rt = await speaker.connect()
    await speaker_rt.join(room_id)
    speaker_peer = await connect_audio(speaker_rt)
    speaker_peer.play_file(tones[660])
    ear = await server.user("ear")
    ear_rt = await ear.connect()
    await ear_rt.join(room_id)
    ear_peer = await connect_audio(ear_rt)
    peers = [host_peer, speaker_peer, ear_peer]
    try:
        await host_rt.send("invite_to_speak", user_id=speaker_account.id)
        await speaker_rt.wait_for(
            lambda: bool(speaker_rt.room and speaker_rt.room["me"]["invited"]))
        await speaker_rt.send("accept_invite")
        await ear_rt.wait_event("role_changed", match=lambda e: e["user_id"] == speaker_account.id)
        heard = await record_after(ear_peer, 0.5, 1.0)
        assert hears(heard, 440) and hears(heard, 660)

        before = server.services.media.stats().peers
        await server.services.accounts.revoke_token(speaker_account.id, row.id)
        await eventually(lambda: server.services.media.stats().peers < before,
                         CLOSED_WITHIN, "the revoked token's audio connection closing")
        heard = await record_after(ear_peer, 0.5, 1.0)
        assert hears(heard, 440) and not hears(heard, 660), "a revoked token was heard"
    finally:
        for peer in peers:
            await peer.close()
        await speaker.close()
