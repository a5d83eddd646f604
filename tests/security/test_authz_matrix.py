"""Who may do what: every HTTP route and every WebSocket command, against every kind of caller.

The routes come from the application's own route table and the commands from
``podium.realtime.commands.COMMANDS``: a route or command with no entry in ``ROUTES`` or
``COMMANDS`` below fails the test, naming it. To add one, write its rule (who gets which status
class) next to its neighbours; ``signed_in()``, ``public()`` and ``in_room()`` cover most.

Each check runs in a fresh room: a host (on stage, moderating), a second moderator, a speaker,
a listener with a raised hand (and another, the target of hand actions), and outsiders (a
member, a site admin, a suspended member, nobody), so no check can change what another sees.
Outcomes are status classes (2xx, 401, 403, 404, 409, 422...) and never a 5xx.

Three more callers are listeners whose credential has just stopped working: an API token
revoked, a browser session signed out, a session ended by a new password. Over HTTP they use the
dead credential; over the WebSocket they connect and join while it works, it is changed, then
they send the command: the socket must be closed, the command never acted on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
import websockets
from fastapi.routing import APIRoute

from podium.domain import commands as c
from podium.realtime.commands import COMMANDS as WS_COMMANDS
from tests.api.helpers import Member, bulk_members
from tests.conftest import Server
from tests.realtime.helpers import ws_url

CHANGED = ("revoked", "signed_out", "reset")  # callers whose credential just stopped working
ROLES = ("anonymous", "member", "listener", "speaker", "moderator", "host", "admin", "suspended",
         *CHANGED)
IN_ROOM = ("listener", "speaker", "moderator", "host")
OUTSIDERS = ("member", "admin")
SETTINGS = {"rate_room_create": "100000/1", "rate_hand_raise": "100000/1",
            "rate_invite_create": "100000/1", "rate_token_create": "100000/1",
            "rate_signup": "100000/1", "rate_signin": "100000/1",
            "rate_invite_check": "100000/1", "rate_report": "100000/1", "rate_clip": "100000/1",
            "max_rooms_per_user": 1000}


# Rules ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """Expected outcome per role: a status class for HTTP ("2xx", "403"...), a reply or error
    code for WebSocket commands ("ok", "forbidden", "closed" for a refused connection)."""

    expect: dict[str, str]
    room: str = "open"  # the kind of room the check runs in
    body: Callable[[World], Any] | None = None  # HTTP body / WebSocket fields, from the world

    def __post_init__(self) -> None:
        assert set(self.expect) == set(ROLES), set(ROLES) ^ set(self.expect)


def rule(default: str, room: str = "open", body: Callable[[World], Any] | None = None,
         **per_role: str) -> Rule:
    unknown = set(per_role) - set(ROLES)
    assert not unknown, unknown
    return Rule({r: per_role.get(r, default) for r in ROLES}, room, body)


def public(ok: str = "2xx", body: Callable[[World], Any] | None = None) -> Rule:
    """Anyone, signed in or not (a suspended member's token is simply not looked at)."""
    return rule(ok, body=body)


def signed_in(ok: str = "2xx", body: Callable[[World], Any] | None = None,
              room: str = "open", **per_role: str) -> Rule:
    refused = dict.fromkeys(("anonymous", "suspended", *CHANGED), "401")
    return rule(ok, room, body=body, **{**refused, **per_role})


def in_room(listener: str, speaker: str, moderator: str, host: str, outsider: str,
            room: str = "open", body: Callable[[World], Any] | None = None) -> Rule:
    """A room action: what each role in the room gets, and members not in it."""
    return rule("401", room, body, listener=listener, speaker=speaker, moderator=moderator,
                host=host, member=outsider, admin=outsider)


def target(name: str) -> Callable[[World], Any]:
    return lambda w: {"user_id": w.users[name].id}


# HTTP routes: (method, path) -> rule. Status classes: 2xx, 401, 403, 404, 409, 410, 422.
V = "/api/v1"
ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", f"{V}/health"): public(),
    # Operations (api/ops.py): public on purpose, for monitoring without credentials; they show
    # counts only. docs/deployment.md keeps them to the monitoring network at the proxy.
    ("GET", "/healthz"): public(),
    ("GET", "/metrics"): public(),
    ("POST", f"{V}/auth/signup"): public("2xx", body=lambda w: {
        "invite": w.invite, "username": w.fresh_name(), "display_name": "New",
        "password": "password-new"}),
    ("POST", f"{V}/auth/signin"): public("2xx", body=lambda w: {
        "username": w.signer, "password": "password-" + w.signer}),
    ("POST", f"{V}/auth/signout"): public(),
    ("GET", f"{V}/auth/me"): signed_in(),
    ("POST", f"{V}/invites"): signed_in(),
    ("GET", f"{V}/invites"): signed_in(),
    ("GET", f"{V}/invites/{{code}}"): public(),
    ("POST", f"{V}/tokens"): signed_in(body=lambda w: {"name": "matrix"}),
    ("GET", f"{V}/tokens"): signed_in(),
    # Only the owner (here: the host) may revoke a token; others are told it does not exist.
    ("DELETE", f"{V}/tokens/{{token_id}}"): signed_in("404", host="2xx"),
    ("GET", f"{V}/users/{{username}}"): signed_in(),
    ("GET", f"{V}/rooms"): signed_in(),
    ("POST", f"{V}/rooms"): signed_in(body=lambda w: {"title": "Another room"}),
    # A closed room: only the people in it (and those let in) may see or join it.
    ("GET", f"{V}/rooms/{{room_id}}"): in_room("2xx", "2xx", "2xx", "2xx", "403", "closed"),
    ("GET", f"{V}/rooms/{{room_id}}/audience"): in_room("2xx", "2xx", "2xx", "2xx", "403",
                                                        "closed"),
    # Only once the room has ended (tests/social/test_summary.py: who may read it then).
    ("GET", f"{V}/rooms/{{room_id}}/summary"): signed_in("404"),
    ("POST", f"{V}/rooms/{{room_id}}/join"): in_room("2xx", "2xx", "2xx", "2xx", "403",
                                                     "closed"),
    ("POST", f"{V}/rooms/{{room_id}}/leave"): in_room("2xx", "2xx", "2xx", "2xx", "2xx"),
    # Not real SDP: members get as far as the media engine (422); outsiders are refused first.
    ("POST", f"{V}/rooms/{{room_id}}/rtc"): in_room("422", "422", "422", "422", "403",
                                                    body=lambda w: {"sdp": "v=0",
                                                                    "type": "offer"}),
    ("POST", f"{V}/rooms/{{room_id}}/hand/raise"): in_room("2xx", "409", "409", "409", "409"),
    ("POST", f"{V}/rooms/{{room_id}}/hand/lower"): in_room("2xx", "2xx", "2xx", "2xx", "409"),
    ("POST", f"{V}/rooms/{{room_id}}/invitation/accept"): in_room("403", "403", "403", "403",
                                                                  "409"),
    ("POST", f"{V}/rooms/{{room_id}}/invitation/decline"): in_room("403", "403", "403", "403",
                                                                   "409"),
    ("POST", f"{V}/rooms/{{room_id}}/mute"): in_room("409", "2xx", "2xx", "2xx", "409",
                                                     body=lambda w: {"muted": True}),
    ("POST", f"{V}/rooms/{{room_id}}/step-down"): in_room("409", "2xx", "2xx", "2xx", "409"),
    # Any moderator may end the room (the host is never acted on, but ending is for everyone).
    ("POST", f"{V}/rooms/{{room_id}}/end"): in_room("403", "403", "2xx", "2xx", "403"),
    # Moderators only, each on a valid target: invite another listener, move/mute/promote the
    # speaker, lower another listener's hand, let a member into the room.
    ("POST", f"{V}/rooms/{{room_id}}/speakers"): in_room("403", "403", "2xx", "2xx", "409",
                                                         body=target("other")),
    ("POST", f"{V}/rooms/{{room_id}}/audience"): in_room("403", "403", "2xx", "2xx", "409",
                                                         body=target("speaker")),
    ("POST", f"{V}/rooms/{{room_id}}/moderators"): in_room("403", "403", "2xx", "2xx", "409",
                                                           body=target("speaker")),
    ("POST", f"{V}/rooms/{{room_id}}/muted"): in_room("403", "403", "2xx", "2xx", "409",
                                                      body=target("speaker")),
    ("POST", f"{V}/rooms/{{room_id}}/hands/lower"): in_room("403", "403", "2xx", "2xx", "409",
                                                            body=target("other")),
    ("POST", f"{V}/rooms/{{room_id}}/allowed"): in_room("403", "403", "2xx", "2xx", "409",
                                                        body=target("member")),
    # The social layer (docs/social.md). {username} is the host, whom "member" follows; the
    # event is the host's; the notification is the host's ("member" followed them).
    # Anyone present may ping a follower; "member" follows only the host: moderators ping
    # anyone, the rest are refused; outsiders cannot ping from a room they are not in.
    ("POST", f"{V}/rooms/{{room_id}}/ping"): in_room("403", "403", "2xx", "2xx", "409",
                                                     body=target("member")),
    ("GET", f"{V}/users/{{username}}/profile"): signed_in(),
    ("GET", f"{V}/users/{{username}}/followers"): signed_in(),
    ("GET", f"{V}/users/{{username}}/following"): signed_in(),
    ("GET", f"{V}/users/{{username}}/avatar"): signed_in("404"),  # the host has no picture
    ("PATCH", f"{V}/profile"): signed_in(body=lambda w: {"bio": "Hello"}),
    ("PUT", f"{V}/profile/avatar"): signed_in("422"),  # an empty body is no image
    ("DELETE", f"{V}/profile/avatar"): signed_in(),
    ("POST", f"{V}/users/{{username}}/follow"): signed_in(host="422"),  # not yourself
    ("PATCH", f"{V}/users/{{username}}/follow"): signed_in("404", member="2xx",
                                                          body=lambda w: {"notify": False}),
    ("DELETE", f"{V}/users/{{username}}/follow"): signed_in(),
    ("GET", f"{V}/events"): signed_in(),
    ("POST", f"{V}/events"): signed_in(body=lambda w: {
        "title": "Later", "starts_at": "2027-06-01T10:00:00", "timezone": "Europe/Paris"}),
    ("GET", f"{V}/events/{{event_id}}"): signed_in(),
    ("GET", f"{V}/events/{{event_id}}.ics"): signed_in(),
    ("DELETE", f"{V}/events/{{event_id}}"): signed_in("403", host="2xx"),
    ("POST", f"{V}/events/{{event_id}}/rsvp"): signed_in(),
    ("DELETE", f"{V}/events/{{event_id}}/rsvp"): signed_in(),
    ("POST", f"{V}/events/{{event_id}}/start"): signed_in("403", host="2xx"),
    ("GET", f"{V}/calendar"): signed_in(),
    ("POST", f"{V}/calendar/token"): signed_in(),
    ("DELETE", f"{V}/calendar/token"): signed_in(),
    ("GET", f"{V}/notifications"): signed_in(),
    ("GET", f"{V}/notifications/unread"): signed_in(),
    ("POST", f"{V}/notifications/read-all"): signed_in(),
    ("POST", f"{V}/notifications/{{notification_id}}/read"): signed_in("404", host="2xx"),
    ("GET", f"{V}/search"): signed_in("422"),  # no ?q=
    # Moderation (docs/moderation.md). Bans: moderators only, on the speaker; {user_id} (the
    # speaker) is not banned, so unbanning is a 404 for moderators.
    ("POST", f"{V}/rooms/{{room_id}}/bans"): in_room("403", "403", "2xx", "2xx", "403",
                                                     body=target("speaker")),
    ("GET", f"{V}/rooms/{{room_id}}/bans"): in_room("403", "403", "2xx", "2xx", "403"),
    ("DELETE", f"{V}/rooms/{{room_id}}/bans/{{user_id}}"): in_room("403", "403", "404", "404",
                                                                   "403"),
    ("POST", f"{V}/rooms/{{room_id}}/moderators/revoke"): in_room(
        "403", "403", "2xx", "2xx", "409", body=target("moderator")),
    ("PUT", f"{V}/rooms/{{room_id}}/hand-policy"): in_room(
        "403", "403", "2xx", "2xx", "409", body=lambda w: {"policy": "nobody"}),
    # The host only (captions: docs/captions.md); nobody in the matrix consented, so no
    # recogniser starts.
    ("POST", f"{V}/rooms/{{room_id}}/captions"): in_room(
        "403", "403", "403", "2xx", "403", body=lambda w: {"on": True}),
    ("GET", f"{V}/blocks"): signed_in(),
    ("POST", f"{V}/users/{{username}}/block"): signed_in(host="422"),  # not yourself
    ("DELETE", f"{V}/users/{{username}}/block"): signed_in(),
    ("POST", f"{V}/reports"): signed_in(host="422", body=lambda w: {
        "username": w.users["host"].account.username, "category": "spam", "text": "Spam."}),
    # Admins only; the report is one "member" made about the host; {username} is the host.
    ("GET", f"{V}/admin/reports"): signed_in("403", admin="2xx"),
    ("POST", f"{V}/admin/reports/{{report_id}}"): signed_in(
        "403", admin="2xx", body=lambda w: {"action": "dismiss", "note": "Fine."}),
    ("POST", f"{V}/admin/users/{{username}}/suspend"): signed_in("403", admin="2xx",
                                                                 body=lambda w: {}),
    ("DELETE", f"{V}/admin/users/{{username}}/suspend"): signed_in("403", admin="2xx"),
    ("GET", f"{V}/admin/audit"): signed_in("403", admin="2xx"),
    # Recording, replays and clips ("recorded": the world's room is recorded, with a replay
    # the host owns and a clip the listener cut, in which the speaker is heard).
    ("POST", f"{V}/rooms/{{room_id}}/recording"): in_room(
        "403", "403", "403", "2xx", "403", room="recorded", body=lambda w: {"on": True}),
    ("GET", f"{V}/rooms/{{room_id}}/replay"): signed_in(room="recorded"),
    ("POST", f"{V}/rooms/{{room_id}}/clips"): in_room("2xx", "2xx", "2xx", "2xx", "403",
                                                      room="recorded", body=lambda w: {}),
    ("GET", f"{V}/replays/{{replay_id}}"): signed_in(room="recorded"),
    ("PATCH", f"{V}/replays/{{replay_id}}"): signed_in(
        "403", host="2xx", room="recorded", body=lambda w: {"trim_start_ms": 10}),
    ("DELETE", f"{V}/replays/{{replay_id}}"): signed_in("403", host="2xx", admin="2xx",
                                                        room="recorded"),
    ("GET", f"{V}/replays/{{replay_id}}/audio.ogg"): signed_in(room="recorded"),
    ("GET", f"{V}/replays/{{replay_id}}/transcript.vtt"): signed_in(room="recorded"),
    ("POST", f"{V}/replays/{{replay_id}}/clips"): signed_in(
        room="recorded", body=lambda w: {"start_ms": 0, "end_ms": 500}),
    ("GET", f"{V}/clips/{{clip_id}}"): signed_in(room="recorded"),
    ("GET", f"{V}/clips/{{clip_id}}/audio.ogg"): signed_in(room="recorded"),
    ("DELETE", f"{V}/clips/{{clip_id}}"): signed_in(
        "403", host="2xx", admin="2xx", listener="2xx", speaker="2xx", room="recorded"),
    ("GET", f"{V}/users/{{username}}/replays"): signed_in(),
    ("GET", f"{V}/users/{{username}}/clips"): signed_in(),
}

# WebSocket commands: type -> rule. "ok" is a reply; otherwise the error code; a connection
# refused at the door, or closed when its credential stopped working, is "closed" (anonymous
# and suspended callers never get that far).
# Outsiders are connected but have joined no room.
WS_REFUSED = {"anonymous": "closed", "suspended": "closed"}


def ws(listener: str, speaker: str, moderator: str, host: str, outsider: str = "not_in_room",
       body: Callable[[World], Any] | None = None) -> Rule:
    return rule("closed", body=body, listener=listener, speaker=speaker, moderator=moderator,
                host=host, member=outsider, admin=outsider)


def ws_all(outcome: str = "ok", body: Callable[[World], Any] | None = None) -> Rule:
    return ws(outcome, outcome, outcome, outcome, outcome, body)


COMMANDS: dict[str, Rule] = {
    "ping": ws_all(),
    "subscribe_hallway": ws_all(),
    "unsubscribe_hallway": ws_all(),
    "join": ws_all(body=lambda w: {"room_id": w.room_id}),
    "leave": ws("ok", "ok", "ok", "ok"),
    "rtc_offer": ws("invalid_sdp", "invalid_sdp", "invalid_sdp", "invalid_sdp",
                    body=lambda w: {"sdp": "v=0"}),
    "raise_hand": ws("ok", "not_listener", "not_listener", "not_listener"),
    "lower_hand": ws("ok", "ok", "ok", "ok"),
    "invite_to_speak": ws("forbidden", "forbidden", "ok", "ok", body=target("other")),
    "accept_invite": ws("not_invited", "not_invited", "not_invited", "not_invited"),
    "decline_invite": ws("not_invited", "not_invited", "not_invited", "not_invited"),
    "move_to_audience": ws("forbidden", "forbidden", "ok", "ok", body=target("speaker")),
    "make_moderator": ws("forbidden", "forbidden", "ok", "ok", body=target("speaker")),
    "mute": ws("forbidden", "forbidden", "ok", "ok", body=target("speaker")),
    "set_muted": ws("not_on_stage", "ok", "ok", "ok", body=lambda w: {"muted": True}),
    "step_down": ws("not_on_stage", "ok", "ok", "ok"),
    "allow_user": ws("forbidden", "forbidden", "ok", "ok", body=target("member")),
    "end_room": ws("forbidden", "forbidden", "ok", "ok"),
    "revoke_moderator": ws("forbidden", "forbidden", "ok", "ok", body=target("moderator")),
    "set_hand_policy": ws("forbidden", "forbidden", "ok", "ok",
                          body=lambda w: {"policy": "nobody"}),
    "remove_member": ws("forbidden", "forbidden", "ok", "ok", body=target("speaker")),
}


# The world each check runs in --------------------------------------------------------------

_serial = itertools.count()


@dataclass
class World:
    server: Server
    users: dict[str, Member]
    room_id: str
    invite: str
    signer: str
    token_id: int
    event_id: int
    notification_id: int
    report_id: int = 0
    replay_id: str = "0"
    clip_id: str = "0"
    cookies: dict[str, str] = field(default_factory=dict)  # browser sessions, by role
    changed: set[str] = field(default_factory=set)  # roles whose credential was changed

    def fresh_name(self) -> str:
        return f"new{next(_serial)}"

    def auth(self, role: str) -> dict[str, str]:
        if role in self.cookies:
            return {"Cookie": f"podium_session={self.cookies[role]}"}
        return {"Authorization": f"Bearer {self.users[role].token}"}

    async def change_credential(self, role: str) -> None:
        """The caller's credential stops working, as the member or an admin would make it."""
        if role in self.changed:
            return
        self.changed.add(role)
        accounts = self.server.services.accounts
        user = self.users[role].account
        if role == "revoked":
            found = await accounts.identify_token(self.users[role].token)
            assert found is not None
            await accounts.revoke_token(user.id, found[1].id)
        elif role == "signed_out":
            await accounts.sign_out(self.cookies[role])
        else:
            await accounts.set_password(user.username, "a-new-password")


async def world(server: Server, room_kind: str) -> World:
    n = next(_serial)
    roles = ("host", "moderator", "speaker", "listener", "other", "member", "admin",
             "suspended", *CHANGED)
    users = dict(zip(roles, await bulk_members(server, f"w{n}r", len(roles)), strict=True))
    services = server.services
    accounts, rooms = services.accounts, services.rooms
    await accounts.set_suspended(users["suspended"].id, True)
    recorded = room_kind == "recorded"
    live = await rooms.create(users["host"].account, "Matrix", "",
                              "open" if recorded else room_kind, recording=recorded)
    rid = live.room_id
    host = users["host"].id
    await rooms.join(rid, users["host"].account, None)
    for name in ("moderator", "speaker", "listener", "other", *CHANGED):
        await rooms.execute(rid, c.AllowUser(host, users[name].id))
        await rooms.join(rid, users[name].account, None)
    cookies = {name: await accounts._new_session(users[name].id)
               for name in ("signed_out", "reset")}
    for name in ("moderator", "speaker"):
        await rooms.execute(rid, c.InviteToSpeak(host, users[name].id))
        await rooms.execute(rid, c.AcceptInvite(users[name].id))
    await rooms.execute(rid, c.MakeModerator(host, users["moderator"].id))
    await rooms.execute(rid, c.RaiseHand(users["listener"].id))
    await rooms.execute(rid, c.RaiseHand(users["other"].id))
    admin_account = await accounts.create_user(f"w{n}admin", "Admin", "password-admin",
                                               is_admin=True)
    _, admin_token = await accounts.create_token(admin_account.id, "matrix")
    users["admin"] = Member(server, admin_account, admin_token)
    _, invite = await accounts.create_invite(admin_account)
    signer = await accounts.create_user(f"w{n}signer", "Signer", f"password-w{n}signer")
    token_row, _ = await accounts.create_token(host, "to revoke")
    community = services.community
    event = await community.events.create(users["host"].account, "Matrix event", "",
                                          datetime(2027, 6, 1, 18), "UTC", [], "open")
    await community.social.follow(users["member"].account, users["host"].account.username)
    page = await community.notifications.page(host)
    note_id = page["notifications"][0]["id"]  # type: ignore[index]
    roles_now = {m.user_id: m.role.value for m in live.state.members.values()}
    assert [roles_now.get(users[n].id) for n in ("host", "moderator", "speaker", "listener")] \
        == ["moderator", "moderator", "speaker", "listener"], roles_now
    report = await services.moderation.reports.create(
        users["member"].account, users["host"].account.username, "spam", "Matrix.", rid)
    w = World(server, users, rid, invite, signer.username, token_row.id,
              int(event["id"]), int(note_id),  # type: ignore[call-overload]
              int(report["id"]), cookies=cookies)  # type: ignore[call-overload]
    if recorded:
        await _recorded(w)
    return w


async def _recorded(w: World) -> None:
    """A second of audio in the world's recording, the speaker heard in it, a transcript, and
    a clip the listener cut."""
    from podium.services.replays import replay_transcript_path
    from podium.storage.tables import Replay
    from tests.replays.helpers import tone_packets

    services = w.server.services
    active = services.recordings.active[w.room_id]
    for pos, packet in tone_packets(440, 1.0):
        active.recorder.put(pos, packet)
    assert await asyncio.to_thread(active.recorder.flush)
    active.timeline.append({"user_id": w.users["speaker"].id, "name": "Speaker",
                            "start_ms": 0, "end_ms": 900})
    w.replay_id = active.replay_id
    async with services.db.transaction() as s:
        replay = await s.get(Replay, w.replay_id)
    assert replay is not None
    replay_transcript_path(services.recordings, replay).write_text(
        "WEBVTT\n\n00:00.000 --> 00:00.900\n<v Speaker>Hello\n")
    clip = await services.clips.of_replay(w.users["listener"].account, w.replay_id, 0, 500,
                                          "Matrix clip")
    w.clip_id = str(clip["id"])


# Enumerating what the application serves -----------------------------------------------------

def http_routes(app: Any) -> set[tuple[str, str]]:
    """Every (method, path) of the API from the app's route table: no static files or pages."""

    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            if hasattr(route, "original_router") and hasattr(route, "include_context"):
                if route.include_context.include_in_schema:
                    yield from walk(route.original_router.routes,
                                    prefix + route.include_context.prefix)
            elif isinstance(route, APIRoute) and route.include_in_schema:
                for method in route.methods or ():
                    yield method, prefix + route.path

    return set(walk(list(app.routes), ""))


def test_every_route_and_command_has_a_rule() -> None:
    from podium.api.app import create_app
    from podium.config import Settings

    app = create_app(Settings(secret_key="x", database_url="sqlite+aiosqlite://",
                              media_workers=0))
    served = http_routes(app)
    openapi = {(m.upper(), p) for p, item in app.openapi()["paths"].items() for m in item}
    assert served == openapi, served ^ openapi  # the route table and the OpenAPI agree
    missing = sorted(served - set(ROUTES))
    assert not missing, (
        "these routes have no entry in tests/security/test_authz_matrix.py ROUTES (add a "
        "rule for each: who gets which status class): "
        + ", ".join(f"{m} {p}" for m, p in missing))
    stale = sorted(set(ROUTES) - served)
    assert not stale, f"ROUTES lists routes the app does not serve: {stale}"
    missing_commands = sorted(set(WS_COMMANDS) - set(COMMANDS))
    assert not missing_commands, (
        "these WebSocket commands have no entry in tests/security/test_authz_matrix.py "
        f"COMMANDS: {missing_commands}")
    assert not set(COMMANDS) - set(WS_COMMANDS), set(COMMANDS) - set(WS_COMMANDS)


# Running the checks --------------------------------------------------------------------------

def status_class(status: int) -> str:
    return "2xx" if 200 <= status < 300 else str(status)


def url_of(path: str, w: World) -> str:
    return (path.replace("{room_id}", w.room_id).replace("{code}", w.invite)
            .replace("{token_id}", str(w.token_id)).replace("{event_id}", str(w.event_id))
            .replace("{notification_id}", str(w.notification_id))
            .replace("{report_id}", str(w.report_id))
            .replace("{replay_id}", w.replay_id).replace("{clip_id}", w.clip_id)
            .replace("{user_id}", str(w.users["speaker"].id))
            .replace("{username}", w.users["host"].account.username))


async def http_check(client: httpx.AsyncClient, method: str, path: str, role: str,
                     r: Rule, w: World) -> int:
    headers = {"X-Podium-CSRF": "1"}
    if role in CHANGED:
        await w.change_credential(role)  # before the request: it uses a dead credential
    if role != "anonymous":
        headers.update(w.auth(role))
    body = r.body(w) if r.body else None
    client.cookies.clear()  # sign-in and sign-up set a cookie: no caller keeps it
    response = await client.request(method, url_of(path, w), json=body, headers=headers)
    return response.status_code


@pytest.mark.timeout(300)
async def test_http_authorization_matrix(make_server: Callable[..., Any]) -> None:
    async with make_server(**SETTINGS) as server:
        mismatches: list[str] = []
        checked = 0
        worlds = 0
        async with httpx.AsyncClient(base_url=server.url) as client:
            for (method, path), r in sorted(ROUTES.items()):
                w: World | None = None
                for role in ROLES:
                    # A fresh world unless nothing can have changed it: reads, and callers
                    # refused at the door, share the route's previous one.
                    if w is None or (method != "GET" and r.expect[role] != "401"):
                        w = await world(server, r.room)
                        worlds += 1
                    status = await http_check(client, method, path, role, r, w)
                    checked += 1
                    assert status < 500, (method, path, role, status)
                    if status_class(status) != r.expect[role]:
                        mismatches.append(f"{method} {path} as {role}: got {status}, "
                                          f"expected {r.expect[role]}")
        assert not mismatches, "\n".join(mismatches)
        assert checked == len(ROUTES) * len(ROLES)
        print(f"authorization matrix: {checked} HTTP checks "
              f"({len(ROUTES)} routes x {len(ROLES)} roles, {worlds} fresh rooms)")


async def ws_check(server: Server, kind: str, role: str, r: Rule, w: World) -> str:
    by_cookie = role in w.cookies
    token = w.users[role].token if role != "anonymous" and not by_cookie else None
    headers = w.auth(role) if by_cookie else None
    async with websockets.connect(ws_url(server, token), max_size=2**22,
                                  additional_headers=headers) as sock:
        try:
            hello = json.loads(await asyncio.wait_for(sock.recv(), 10))
            assert hello["type"] == "hello"
            if role in IN_ROOM or role in CHANGED:  # a socket in the room the member is in
                await sock.send(json.dumps({"id": "j", "type": "join", "room_id": w.room_id}))
                await _answer(sock, "j")
            if role in CHANGED:
                await w.change_credential(role)
            fields = r.body(w) if r.body else {}
            await sock.send(json.dumps({"id": "x", "type": kind, **fields}))
            answer = await _answer(sock, "x")
        except websockets.ConnectionClosed:
            return "closed"
        return "ok" if answer["type"] == "reply" else str(answer["error"])


async def _answer(sock: Any, request_id: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            frame: dict[str, Any] = json.loads(await sock.recv())
            if frame.get("id") == request_id and frame["type"] in ("reply", "error"):
                return frame
            if frame["type"] == "pong" and request_id == "x":
                continue


@pytest.mark.timeout(300)
async def test_websocket_authorization_matrix(make_server: Callable[..., Any]) -> None:
    async with make_server(**SETTINGS) as server:
        mismatches: list[str] = []
        checked = 0
        for kind, r in sorted(COMMANDS.items()):
            for role in ROLES:
                w = await world(server, r.room)
                outcome = await ws_check(server, kind, role, r, w)
                checked += 1
                assert outcome != "internal", (kind, role)
                if outcome != r.expect[role]:
                    mismatches.append(f"{kind} as {role}: got {outcome}, "
                                      f"expected {r.expect[role]}")
        assert not mismatches, "\n".join(mismatches)
        print(f"authorization matrix: {checked} WebSocket checks "
              f"({len(COMMANDS)} commands x {len(ROLES)} roles)")
