"""A client-side model of a room: keeps one viewer's snapshot up to date from event dicts.

This is what a client does between a fresh ``snapshot`` and the next one, so the property tests can
check that ``snapshot(before) + events == snapshot(after)`` for every viewer (the Zulip-style
check). It knows nothing of ``RoomState``: only the dicts that go over the wire.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from typing import Any

from podium.domain.commands import RoomEvent
from podium.domain.views import AUDIENCE_PAGE

Snapshot = dict[str, Any]
EventDict = dict[str, Any]

_MEMBER_KEYS = ("user_id", "username", "display_name", "role", "muted", "joined_at",
                "stage_since")


def delivered(events: Iterable[RoomEvent], viewer_id: int,
              moderator_ids: Collection[int]) -> list[EventDict]:
    """The event dicts a server sends to ``viewer_id``.

    Private events reach only the room's moderators and the event's subject. ``moderator_ids``
    are the moderators once the command has been applied: that is when the server fans out.
    """
    return [
        event.to_dict()
        for event in events
        if not event.private or event.subject == viewer_id or viewer_id in moderator_ids
    ]


def _stage_key(entry: dict[str, Any]) -> tuple[bool, float, int]:
    # Mirrors RoomState.stage: moderators first, then by time on stage.
    return (entry["role"] != "moderator", entry["stage_since"], entry["user_id"])


def _audience_key(entry: dict[str, Any]) -> tuple[float, int]:
    # Mirrors views.audience: listeners in the order they joined.
    return (entry["joined_at"], entry["user_id"])


def _hand_key(entry: dict[str, Any]) -> tuple[float, int]:
    return (entry["at"], entry["user_id"])


def _without(entries: list[dict[str, Any]], user_id: int) -> list[dict[str, Any]]:
    return [e for e in entries if e["user_id"] != user_id]


def _place(snap: Snapshot, entry: dict[str, Any]) -> None:
    """Put a member on the stage or in the audience page, wherever their role says."""
    if entry["role"] == "listener":
        snap["audience_count"] += 1
        # With more than AUDIENCE_PAGE listeners the page could not be kept exactly (a listener
        # leaving pulls in one the client never saw); the property tests stay well below it.
        snap["audience"] = sorted([*snap["audience"], entry], key=_audience_key)[:AUDIENCE_PAGE]
    else:
        snap["stage"] = sorted([*snap["stage"], entry], key=_stage_key)


def _remove(snap: Snapshot, user_id: int, role: str) -> None:
    if role == "listener":
        snap["audience_count"] -= 1
        snap["audience"] = _without(snap["audience"], user_id)
    else:
        snap["stage"] = _without(snap["stage"], user_id)


def _current_role(snap: Snapshot, user_id: int) -> str:
    for entry in snap["stage"]:
        if entry["user_id"] == user_id:
            return str(entry["role"])
    return "listener"


def apply_event(snapshot: Snapshot, event: EventDict, viewer_id: int) -> Snapshot:
    """Return ``snapshot`` updated by one event that was delivered to ``viewer_id``."""
    snap = copy.deepcopy(snapshot)
    _update(snap, event, viewer_id)
    return snap


def apply_events(snapshot: Snapshot, events: Iterable[EventDict], viewer_id: int) -> Snapshot:
    """Return ``snapshot`` updated by the events delivered to ``viewer_id``, in order."""
    snap = copy.deepcopy(snapshot)
    for event in events:
        _update(snap, event, viewer_id)
    return snap


def _update(snap: Snapshot, event: EventDict, viewer_id: int) -> None:
    """Apply one event to ``snap`` in place (entries taken from events are fresh dicts)."""
    kind = event["type"]
    user_id = event.get("user_id")
    me = snap["me"]
    is_me = me is not None and user_id == viewer_id

    if kind == "member_joined":
        _place(snap, {k: event[k] for k in _MEMBER_KEYS})
        if user_id == viewer_id:
            snap["me"] = {"user_id": user_id, "role": event["role"], "muted": event["muted"],
                          "hand_raised": False, "invited": False}
    elif kind == "hand_policy_changed":
        snap["hand_policy"] = event["policy"]
    elif kind == "captions_changed":
        snap["captions"] = event["captions"]
    elif kind == "recording_changed":
        snap["recording"] = event["recording"]
    elif kind in ("member_left", "member_removed"):
        _remove(snap, user_id, event["role"])
        if snap["hands"] is not None:
            snap["hands"] = _without(snap["hands"], user_id)
        if is_me:
            snap["me"] = None
            snap["hands"] = None
    elif kind == "role_changed":
        _remove(snap, user_id, _current_role(snap, user_id))
        _place(snap, {k: event[k] for k in _MEMBER_KEYS})
        if is_me:
            me["role"] = event["role"]
            me["muted"] = event["muted"]
            if event["role"] != "listener":
                # Nobody on stage has a raised hand or a pending invitation.
                me["hand_raised"] = False
                me["invited"] = False
            if event["role"] != "moderator":
                snap["hands"] = None
            # A viewer who has just become a moderator cannot rebuild the hand queue from
            # events (they never received the private ones): the server sends them a fresh
            # snapshot instead, and the property tests skip them for that step.
    elif kind == "mute_changed":
        for entry in snap["stage"]:
            if entry["user_id"] == user_id:
                entry["muted"] = event["muted"]
        if is_me:
            me["muted"] = event["muted"]
    elif kind == "hand_raised":
        if snap["hands"] is not None:
            entry = {k: event[k] for k in ("user_id", "username", "display_name", "at", "invited")}
            snap["hands"] = sorted([*_without(snap["hands"], user_id), entry], key=_hand_key)
        if is_me:
            me["hand_raised"] = True
    elif kind == "hand_lowered":
        if snap["hands"] is not None:
            snap["hands"] = _without(snap["hands"], user_id)
        if is_me:
            me["hand_raised"] = False
    elif kind in ("speak_invited", "invite_declined"):
        invited = kind == "speak_invited"
        for entry in snap["hands"] or ():
            if entry["user_id"] == user_id:
                entry["invited"] = invited
        if is_me:
            me["invited"] = invited
    elif kind == "user_allowed":
        pass  # who may enter a closed room is not part of anyone's snapshot
    elif kind == "room_ended":
        snap.update(status="ended", stage=[], audience=[], audience_count=0, hands=None, me=None)
    else:  # pragma: no cover - a new event type must be taught to clients too
        raise AssertionError(f"unknown event type {kind!r}")
