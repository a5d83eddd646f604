"""Accounts over HTTP: invite-only sign-up, sessions, invites, API tokens, suspension."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import websockets

from tests.api.helpers import anonymous, assert_error, member, ok
from tests.conftest import Server

DAY = 86400.0


def signup_body(invite: str, username: str = "newbie", display_name: str = "New Bie",
                password: str = "correct horse") -> dict[str, str]:
    return {"invite": invite, "username": username, "display_name": display_name,
            "password": password}


async def test_sign_up_needs_a_valid_unused_unexpired_invite(server: Server) -> None:
    alice = await member(server, "alice")
    invite = ok(await alice.http.post("/invites"), 201)
    assert invite["code"] and invite["url"].endswith("/invite/" + invite["code"])
    assert invite["expires_at"] - invite["created_at"] == server.settings.invite_ttl_days * DAY
    assert invite["used_by"] is None

    guest = anonymous(server)
    check = ok(await guest.get(f"/invites/{invite['code']}"))
    assert check["valid"] is True and check["invited_by"]["username"] == "alice"

    user = ok(await guest.post("/auth/signup", json=signup_body(invite["code"])), 201)
    assert user["username"] == "newbie" and user["display_name"] == "New Bie"
    assert user["invited_by"] == "alice"
    me = ok(await guest.get("/auth/me"))  # signed in by the session cookie sign-up set
    assert me["id"] == user["id"] and me["invited_by"] == "alice"
    account = await server.services.accounts.get(user["id"])
    assert account.invited_by_id == alice.id

    # Used: 410, for sign-up and for the check alike.
    other = anonymous(server)
    assert_error(await other.post("/auth/signup", json=signup_body(invite["code"], "second")),
                 410, "invite_used")
    assert_error(await other.get(f"/invites/{invite['code']}"), 410, "invite_used")
    # Unknown: 404.
    assert_error(await other.post("/auth/signup", json=signup_body("no-such-invite", "third")),
                 404, "invite_not_found")
    assert_error(await other.get("/invites/no-such-invite"), 404, "invite_not_found")

    # A taken username is refused with 409, and the refusal does not use the invite up.
    second = ok(await alice.http.post("/invites"), 201)
    assert_error(await other.post("/auth/signup", json=signup_body(second["code"], "newbie")),
                 409, "username_taken")
    assert_error(await other.post("/auth/signup", json=signup_body(second["code"], "alice")),
                 409, "username_taken")
    ok(await other.get(f"/invites/{second['code']}"))
    ok(await other.post("/auth/signup", json=signup_body(second["code"], "second")), 201)

    # The inviter's list shows who used each invite, newest first.
    listed = ok(await alice.http.get("/invites"))
    assert [(i["id"], i["used_by"]) for i in listed] == [(second["id"], "second"),
                                                         (invite["id"], "newbie")]
    assert all(i["code"] is None for i in listed), "codes are only shown once"
    assert all(i["used_at"] is not None for i in listed)


async def test_invites_expire_after_their_ttl(server: Server) -> None:
    alice = await member(server, "alice")
    early = ok(await alice.http.post("/invites"), 201)
    late = ok(await alice.http.post("/invites"), 201)
    guest = anonymous(server)
    server.clock.advance(server.settings.invite_ttl_days * DAY - 1)
    ok(await guest.get(f"/invites/{early['code']}"))  # one second to go: still valid
    ok(await guest.post("/auth/signup", json=signup_body(early["code"], "justintime")), 201)
    server.clock.advance(1)
    assert_error(await guest.get(f"/invites/{late['code']}"), 410, "invite_expired")
    assert_error(await anonymous(server).post("/auth/signup",
                                              json=signup_body(late["code"], "toolate")),
                 410, "invite_expired")
    with pytest.raises(Exception):  # noqa: B017 - any error: the account must not exist
        await server.services.accounts.by_username("toolate")


BAD_SIGN_UP_FIELDS: list[tuple[str, object]] = [
    ("username", "a"), ("username", "Alice"), ("username", "has space"), ("username", "x" * 31),
    ("username", "ünïcode"), ("username", ""), ("username", 12),
    ("password", "short"), ("password", "x" * 201), ("password", None),
    ("display_name", ""), ("display_name", "   "), ("display_name", "x" * 51),
    ("display_name", ["list"]), ("invite", ""),
]


async def test_bad_sign_up_fields_are_422(server: Server) -> None:
    alice = await member(server, "alice")
    code = ok(await alice.http.post("/invites"), 201)["code"]
    guest = anonymous(server)
    for field, value in BAD_SIGN_UP_FIELDS:
        body: dict[str, object] = {**signup_body(code), field: value}
        response = await guest.post("/auth/signup", json=body)
        assert response.status_code == 422, (field, value, response.text)
        assert_error(response, 422)
    # Nothing was used up or created: the same invite still works with good fields.
    ok(await guest.post("/auth/signup", json=signup_body(code)), 201)


async def test_sign_up_refuses_missing_and_extra_fields(server: Server) -> None:
    alice = await member(server, "alice")
    code = ok(await alice.http.post("/invites"), 201)["code"]
    guest = anonymous(server)
    body = signup_body(code)
    for missing in body:
        partial = {k: v for k, v in body.items() if k != missing}
        assert_error(await guest.post("/auth/signup", json=partial), 422)
    assert_error(await guest.post("/auth/signup", json={**body, "is_admin": True}), 422)
    user = ok(await guest.post("/auth/signup",
                               json={**body, "display_name": "  Ann \t  Lee  "}), 201)
    assert user["display_name"] == "Ann Lee" and user["is_admin"] is False


async def test_sign_in_sets_an_httponly_cookie_and_sign_out_ends_the_session(
        server: Server) -> None:
    await member(server, "alice")
    browser = anonymous(server)
    response = await browser.post("/auth/signin",
                                  json={"username": "alice", "password": "password-alice"})
    assert ok(response)["username"] == "alice"
    cookie = response.headers["set-cookie"]
    parts = [p.strip().lower() for p in cookie.split(";")]
    assert parts[0].startswith("podium_session=") and len(parts[0]) > len("podium_session=") + 20
    assert "httponly" in parts
    assert "samesite=lax" in parts
    assert "path=/" in parts
    assert f"max-age={server.settings.session_ttl_days * 86400}" in parts
    assert "secure" not in parts  # plain http public URL; https would add it
    session = browser.cookies["podium_session"]
    assert ok(await browser.get("/auth/me"))["username"] == "alice"

    signed_out = await browser.post("/auth/signout")
    ok(signed_out)
    assert "podium_session=" in signed_out.headers["set-cookie"]
    assert "max-age=0" in signed_out.headers["set-cookie"].lower()
    assert_error(await browser.get("/auth/me"), 401, "unauthorized")
    # The old cookie value is dead on the server, not just forgotten by the browser.
    replay = anonymous(server)
    replay.cookies.set("podium_session", session)
    assert_error(await replay.get("/auth/me"), 401, "unauthorized")
    assert_error(await replay.get("/rooms"), 401, "unauthorized")


async def test_sessions_expire(server: Server) -> None:
    await member(server, "alice")
    browser = anonymous(server)
    ok(await browser.post("/auth/signin", json={"username": "alice", "password": "password-alice"}))
    server.clock.advance(server.settings.session_ttl_days * DAY - 60)
    ok(await browser.get("/auth/me"))
    server.clock.advance(120)
    assert_error(await browser.get("/auth/me"), 401, "unauthorized")


async def test_wrong_password_and_unknown_user_look_the_same(server: Server) -> None:
    await member(server, "alice")
    guest = anonymous(server)
    wrong = await guest.post("/auth/signin", json={"username": "alice", "password": "nope-nope"})
    unknown = await guest.post("/auth/signin", json={"username": "bob", "password": "nope-nope"})
    assert_error(wrong, 401)
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers
    assert_error(await guest.get("/auth/me"), 401)


async def test_invite_quota_for_members_none_for_admins(server: Server) -> None:
    alice = await member(server, "alice")
    root = await member(server, "root", admin=True)
    quota = server.settings.invite_quota
    codes = [ok(await alice.http.post("/invites"), 201)["code"] for _ in range(quota)]
    assert len(set(codes)) == quota
    assert_error(await alice.http.post("/invites"), 403, "invite_quota")
    # Using one does not give it back: the quota counts invites made.
    ok(await anonymous(server).post("/auth/signup", json=signup_body(codes[0])), 201)
    assert_error(await alice.http.post("/invites"), 403, "invite_quota")
    for _ in range(quota + 2):
        ok(await root.http.post("/invites"), 201)
    assert len(ok(await root.http.get("/invites"))) == quota + 2
    listed = ok(await alice.http.get("/invites"))
    assert len(listed) == quota
    assert [i["used_by"] for i in listed].count("newbie") == 1
    assert ok(await root.http.get("/users/newbie"))["invited_by"] == "alice"


async def test_api_tokens_create_list_revoke(server: Server) -> None:
    alice = await member(server, "alice")
    bob = await member(server, "bob")
    made = ok(await alice.http.post("/tokens", json={"name": "my bot"}), 201)
    token = made["token"]
    assert token.startswith("pod_") and made["hint"] == token[:8]
    bot = anonymous(server)
    bot.headers["Authorization"] = f"Bearer {token}"
    assert ok(await bot.get("/auth/me"))["username"] == "alice"

    listed = ok(await alice.http.get("/tokens"))
    assert [t["name"] for t in listed] == ["tests", "my bot"]
    assert all(t["token"] is None for t in listed), "a token is only shown when made"
    mine = next(t for t in listed if t["id"] == made["id"])
    assert mine["last_used_at"] == pytest.approx(server.clock.now())

    assert_error(await bob.http.delete(f"/tokens/{made['id']}"), 404, "token_not_found")
    ok(await bot.get("/auth/me"))  # bob could not revoke it
    ok(await alice.http.delete(f"/tokens/{made['id']}"))
    assert_error(await bot.get("/auth/me"), 401, "unauthorized")
    assert_error(await bot.get("/rooms"), 401, "unauthorized")
    assert_error(await alice.http.delete(f"/tokens/{made['id']}"), 404, "token_not_found")
    assert [t["name"] for t in ok(await alice.http.get("/tokens"))] == ["tests"]
    ok(await alice.http.get("/auth/me"))  # the other token still works
    assert_error(await alice.http.post("/tokens", json={"name": ""}), 422)
    assert_error(await alice.http.post("/tokens", json={}), 422)
    assert_error(await alice.http.delete("/tokens/0"), 422)
    # Garbage tokens are refused, by header and by query on the socket alike.
    bot.headers["Authorization"] = "Bearer pod_nonsense"
    assert_error(await bot.get("/auth/me"), 401)


async def test_suspended_accounts_are_locked_out(server: Server) -> None:
    alice = await member(server, "alice")
    browser = anonymous(server)
    ok(await browser.post("/auth/signin", json={"username": "alice", "password": "password-alice"}))
    ws_url = server.url.replace("http://", "ws://") + f"/api/v1/ws?token={alice.token}"

    await server.services.accounts.set_suspended(alice.id, True)
    assert_error(await alice.http.get("/auth/me"), 401)
    assert_error(await browser.get("/auth/me"), 401)
    assert_error(await browser.get("/rooms"), 401)
    refused = await anonymous(server).post(
        "/auth/signin", json={"username": "alice", "password": "password-alice"})
    assert_error(refused, 403, "account_suspended")
    assert "set-cookie" not in refused.headers
    async with websockets.connect(ws_url) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001

    await server.services.accounts.set_suspended(alice.id, False)
    ok(await alice.http.get("/auth/me"))
    ok(await browser.get("/auth/me"))


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the server in a time zone that is not UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def test_listed_times_do_not_depend_on_the_server_time_zone(
        server: Server, new_york: None) -> None:
    alice = await member(server, "alice")
    made = ok(await alice.http.post("/invites"), 201)
    token = ok(await alice.http.post("/tokens", json={"name": "bot"}), 201)
    listed = ok(await alice.http.get("/invites"))[0]
    assert listed["created_at"] == pytest.approx(made["created_at"])
    assert listed["expires_at"] == pytest.approx(made["expires_at"])
    assert made["created_at"] == pytest.approx(server.clock.now())
    tokens = {t["id"]: t for t in ok(await alice.http.get("/tokens"))}
    assert tokens[token["id"]]["created_at"] == pytest.approx(server.clock.now())
