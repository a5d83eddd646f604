"""WebSocket commands: parse a frame, check it, call a service (catalogue: docs/realtime.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from podium.domain import commands as c
from podium.realtime.session import ClientSession
from podium.services.accounts import Account
from podium.services.moderation import ModerationService
from podium.services.rooms import RoomService


class Gateway(Protocol):
    """What commands use of the gateway that runs them (``realtime.gateway.Gateway``, which
    imports this module to dispatch): a protocol, so the two do not import each other."""

    rooms: RoomService
    moderation: ModerationService | None

    def subscribe_room(self, session: ClientSession, room_id: str, after_rev: int = 0) -> None:
        ...

    def subscribe_hallway(self, session: ClientSession, account: Account) -> None: ...

    def note_blocked_shown(self, session: ClientSession, user_ids: list[int]) -> None: ...


Handler = Callable[[Gateway, ClientSession, Account, dict[str, Any]], Awaitable[Any]]


class CommandError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _int(frame: dict[str, Any], key: str) -> int:
    value = frame.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**53:
        raise CommandError("invalid_request", f"'{key}' must be a positive integer.")
    return value


def _str(frame: dict[str, Any], key: str, limit: int) -> str:
    value = frame.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise CommandError("invalid_request",
                           f"'{key}' must be a string of 1 to {limit} characters.")
    return value


def _room(session: ClientSession) -> str:
    if session.room_id is None:
        raise CommandError("not_in_room", "Join a room first.")
    return session.room_id


async def _join(gw: Gateway, session: ClientSession, account: Account,
                frame: dict[str, Any]) -> Any:
    room_id = _str(frame, "room_id", 32)
    if session.room_id and session.room_id != room_id:
        await _leave(gw, session, account, frame)
    live = await gw.rooms.join(room_id, account, session.id)
    # No await between the join above and these lines: the snapshot and the subscription
    # see the same revision, so the client misses and repeats nothing.
    gw.subscribe_room(session, room_id)
    room = gw.rooms.snapshot(live, account.id)
    gw.note_blocked_shown(session, room["blocked_on_stage"])  # type: ignore[arg-type]
    session.push({"type": "snapshot", "room": room})
    return {"room_id": room_id}


async def _leave(gw: Gateway, session: ClientSession, account: Account,
                 frame: dict[str, Any]) -> Any:
    room_id = _room(session)
    session.unsubscribe("room")
    session.room_id = None
    await gw.rooms.leave(room_id, account.id)
    return {}


async def _rtc_offer(gw: Gateway, session: ClientSession, account: Account,
                     frame: dict[str, Any]) -> Any:
    answer = await gw.rooms.connect_media(_room(session), account.id,
                                          _str(frame, "sdp", 20_000), "offer",
                                          session.credential)
    return {"sdp": answer.sdp, "type": answer.type}


async def _hallway(gw: Gateway, session: ClientSession, account: Account,
                   frame: dict[str, Any]) -> Any:
    gw.subscribe_hallway(session, account)
    return {"rooms": gw.rooms.hallway(account)}


async def _unhallway(gw: Gateway, session: ClientSession, account: Account,
                     frame: dict[str, Any]) -> Any:
    session.unsubscribe("hallway")
    return {}


async def _ping(gw: Gateway, session: ClientSession, account: Account,
                frame: dict[str, Any]) -> Any:
    session.send_unsequenced({"type": "pong"})
    return None


def _room_command(build: Callable[[int, dict[str, Any]], c.Command]) -> Handler:
    async def handler(gw: Gateway, session: ClientSession, account: Account,
                      frame: dict[str, Any]) -> Any:
        await gw.rooms.execute(_room(session), build(account.id, frame))
        return {}

    return handler


def _muted(frame: dict[str, Any]) -> bool:
    value = frame.get("muted")
    if not isinstance(value, bool):
        raise CommandError("invalid_request", "'muted' must be true or false.")
    return value


def _optional_target(frame: dict[str, Any]) -> int | None:
    return _int(frame, "user_id") if "user_id" in frame else None


async def _remove_member(gw: Gateway, session: ClientSession, account: Account,
                         frame: dict[str, Any]) -> Any:
    """Remove someone and keep them out: ``minutes`` (optional, 1 to 525600) or for good."""
    minutes = frame.get("minutes")
    if minutes is not None and (not isinstance(minutes, int) or isinstance(minutes, bool)
                                or not 0 < minutes <= 525_600):
        raise CommandError("invalid_request", "'minutes' must be 1 to 525600, or absent.")
    if gw.moderation is None:
        raise CommandError("unknown_command", "Moderation is not available.")
    return await gw.moderation.ban(_room(session), account, _int(frame, "user_id"), minutes)


COMMANDS: dict[str, Handler] = {
    "join": _join,
    "leave": _leave,
    "rtc_offer": _rtc_offer,
    "subscribe_hallway": _hallway,
    "unsubscribe_hallway": _unhallway,
    "ping": _ping,
    "raise_hand": _room_command(lambda a, f: c.RaiseHand(a)),
    "lower_hand": _room_command(lambda a, f: c.LowerHand(a, _optional_target(f))),
    "invite_to_speak": _room_command(lambda a, f: c.InviteToSpeak(a, _int(f, "user_id"))),
    "accept_invite": _room_command(lambda a, f: c.AcceptInvite(a)),
    "decline_invite": _room_command(lambda a, f: c.DeclineInvite(a)),
    "move_to_audience": _room_command(lambda a, f: c.MoveToAudience(a, _int(f, "user_id"))),
    "make_moderator": _room_command(lambda a, f: c.MakeModerator(a, _int(f, "user_id"))),
    "mute": _room_command(lambda a, f: c.Mute(a, _int(f, "user_id"))),
    "set_muted": _room_command(lambda a, f: c.SetMuted(a, _muted(f))),
    "step_down": _room_command(lambda a, f: c.StepDown(a)),
    "allow_user": _room_command(lambda a, f: c.AllowUser(a, _int(f, "user_id"))),
    "end_room": _room_command(lambda a, f: c.EndRoom(a)),
    "revoke_moderator": _room_command(lambda a, f: c.RevokeModerator(a, _int(f, "user_id"))),
    "set_hand_policy": _room_command(lambda a, f: c.SetHandPolicy(a, _str(f, "policy", 16))),
    "remove_member": _remove_member,
}


async def dispatch(gw: Gateway, session: ClientSession, account: Account,
                   frame: dict[str, Any]) -> Any:
    kind = frame.get("type")
    if kind == "pong":
        return None
    handler = COMMANDS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise CommandError("unknown_command", f"Unknown command {str(kind)[:40]!r}.")
    return await handler(gw, session, account, frame)
