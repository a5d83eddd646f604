"""Keeps a room snapshot current from the events that follow it (the browser has its twin)."""

from __future__ import annotations

from typing import Any

Room = dict[str, Any]


def _stage_sort(room: Room) -> None:
    # The order the server uses: moderators first, then by time on stage.
    room["stage"].sort(key=lambda m: (m["role"] != "moderator", m.get("stage_since") or 0,
                                      m["user_id"]))


def _remove(room: Room, user_id: int) -> None:
    room["stage"] = [m for m in room["stage"] if m["user_id"] != user_id]
    before = len(room["audience"])
    room["audience"] = [m for m in room["audience"] if m["user_id"] != user_id]
    if len(room["audience"]) != before:
        room["audience_count"] = max(0, room["audience_count"] - 1)


def _member(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "type"}


def apply_event(room: Room, event: dict[str, Any], me: int) -> None:
    """Update ``room`` in place. Unknown event types are ignored (forward compatibility)."""
    kind = event["type"]
    user_id: int = event.get("user_id", 0)
    if kind == "member_joined":
        _remove(room, user_id)
        if event["role"] == "listener":
            room["audience"].append(_member(event))
            room["audience_count"] += 1
        else:
            room["stage"].append(_member(event))
    elif kind in ("member_left", "member_removed"):
        _remove(room, user_id)
        _drop_hand(room, user_id)
    elif kind == "hand_policy_changed":
        room["hand_policy"] = event["policy"]
    elif kind == "captions_changed":
        room["captions"] = event["captions"]
    # "caption" events are transient (a line of live captions): not part of the snapshot.
    elif kind == "recording_changed":
        room["recording"] = event["recording"]
    elif kind == "audience_changed":
        left = set(event["left"])
        room["audience"] = [m for m in room["audience"] if m["user_id"] not in left]
        known = {m["user_id"] for m in room["audience"]}
        room["audience"].extend(m for m in event["joined"] if m["user_id"] not in known)
        room["audience_count"] = event["count"]
        for user in left:
            _drop_hand(room, user)
    elif kind == "role_changed":
        _role_changed(room, event, me)
    elif kind == "mute_changed":
        for m in room["stage"]:
            if m["user_id"] == user_id:
                m["muted"] = event["muted"]
        if user_id == me and room.get("me"):
            room["me"]["muted"] = event["muted"]
    elif kind in ("hand_raised", "hand_lowered"):
        _hand(room, event, me)
    elif kind in ("speak_invited", "invite_declined"):
        _invited(room, user_id, kind == "speak_invited", me)
    elif kind == "speaking":
        room["speaking"] = event["user_ids"]
    elif kind == "room_ended":
        room["status"] = "ended"


def _role_changed(room: Room, event: dict[str, Any], me: int) -> None:
    user_id = event["user_id"]
    _remove(room, user_id)
    member = _member(event)
    if event["role"] == "listener":
        room["audience"].append(member)
        room["audience_count"] += 1
    else:
        room["stage"].append(member)
        _stage_sort(room)
        _drop_hand(room, user_id)
    if user_id == me and room.get("me"):
        room["me"].update(role=event["role"], muted=event["muted"], invited=False,
                          hand_raised=False if event["role"] != "listener"
                          else room["me"]["hand_raised"])


def _drop_hand(room: Room, user_id: int) -> None:
    if room.get("hands") is not None:
        room["hands"] = [h for h in room["hands"] if h["user_id"] != user_id]


def _invited(room: Room, user_id: int, invited: bool, me: int) -> None:
    for hand in room.get("hands") or ():
        if hand["user_id"] == user_id:
            hand["invited"] = invited
    if user_id == me and room.get("me"):
        room["me"]["invited"] = invited


def _hand(room: Room, event: dict[str, Any], me: int) -> None:
    user_id = event["user_id"]
    raised = event["type"] == "hand_raised"
    if user_id == me and room.get("me"):
        room["me"]["hand_raised"] = raised
    if room.get("hands") is None:
        return
    _drop_hand(room, user_id)
    if raised:
        keys = ("user_id", "username", "display_name", "at", "invited")
        room["hands"].append({k: event[k] for k in keys})
