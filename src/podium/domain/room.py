"""The stage rules: ``apply(state, command, now) -> (state, events)``.

Pure: no I/O and no clock of its own. Every state that ``apply`` returns satisfies the
invariants checked by ``check_invariants`` (tested with hypothesis).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from podium.domain import commands as c
from podium.domain.commands import EventType, RoomError, RoomEvent
from podium.domain.roles import (
    HandPolicy,
    Role,
    RoomKind,
    RoomStatus,
    hand_refusal,
    is_moderator,
    may_act_on,
    may_join,
    may_ping,
    may_raise_hand,
    refusal,
)
from podium.domain.state import Member, RoomState

Result = tuple[RoomState, list[RoomEvent]]


def apply(state: RoomState, command: c.Command, now: float) -> Result:
    """Apply one command. Raises ``RoomError`` when the rules refuse it; state is then unchanged."""
    if isinstance(command, c.Tick):
        return _tick(state, now)
    if not state.live:
        raise RoomError("room_ended", "This room has ended.")
    handler = _HANDLERS[type(command)]
    state, events = handler(state, command, now)
    return _settle(state, events, now)


def _event(kind: EventType, subject: int | None = None, private: bool = False, /,
           **data: object) -> RoomEvent:
    if subject is not None:
        data.setdefault("user_id", subject)
    return RoomEvent(kind, data, subject, private)


def _put(state: RoomState, member: Member) -> RoomState:
    return replace(state, members={**state.members, member.user_id: member})


def _present(state: RoomState, user_id: int) -> Member:
    member = state.member(user_id)
    if member is None:
        raise RoomError("not_in_room", "That person is not in this room.")
    return member


def _require_moderator(state: RoomState, actor: int) -> Member:
    member = _present(state, actor)
    if not is_moderator(member.role):
        raise RoomError("forbidden", "Only a moderator can do that.")
    return member


def _target(state: RoomState, actor: int, target: int) -> Member:
    _require_moderator(state, actor)
    member = _present(state, target)
    if not may_act_on(actor, target, state.host_id):
        raise RoomError("forbidden", "Only the host can do that to the host.")
    return member


def _join(state: RoomState, cmd: c.Join, now: float) -> Result:
    if cmd.actor in state.members:
        return state, []
    if cmd.actor != state.host_id:
        if cmd.banned:
            raise RoomError("banned", "A moderator removed you from this room; you cannot "
                            "rejoin it for now.")
        if cmd.blocked_by_moderator:
            raise RoomError("blocked", "You cannot join this room.")
    if not may_join(state.kind, cmd.actor, state.host_id, state.allowed,
                    cmd.followed_by_moderator):
        raise RoomError("not_invited", refusal(state.kind))
    # The host always comes back as a moderator; everyone else starts in the audience.
    host = cmd.actor == state.host_id
    role = Role.MODERATOR if host else Role.LISTENER
    member = Member(cmd.actor, cmd.username, cmd.display_name, role, now,
                    stage_since=now if host else None)
    return _put(state, member), [_event(EventType.MEMBER_JOINED, cmd.actor, **member.public())]


def _leave(state: RoomState, cmd: c.Leave, now: float) -> Result:
    member = _present(state, cmd.actor)
    members = dict(state.members)
    del members[cmd.actor]
    event = _event(EventType.MEMBER_LEFT, cmd.actor, role=member.role.value)
    return replace(state, members=members), [event]


def _raise_hand(state: RoomState, cmd: c.RaiseHand, now: float) -> Result:
    member = _present(state, cmd.actor)
    if member.role is not Role.LISTENER:
        raise RoomError("not_listener", "Only listeners raise a hand.")
    if member.hand_raised_at is not None:
        return state, []
    if not may_raise_hand(state.hand_policy, cmd.followed_by_stage):
        raise RoomError("hands_closed", hand_refusal(state.hand_policy))
    state = _put(state, replace(member, hand_raised_at=now))
    return state, [_event(EventType.HAND_RAISED, cmd.actor, True, at=now,
                          username=member.username, display_name=member.display_name,
                          invited=member.invited_at is not None)]


def _lower_hand(state: RoomState, cmd: c.LowerHand, now: float) -> Result:
    target = cmd.target if cmd.target is not None else cmd.actor
    member = _target(state, cmd.actor, target) if target != cmd.actor else _present(state, target)
    if member.hand_raised_at is None:
        return state, []
    state = _put(state, replace(member, hand_raised_at=None))
    return state, [_event(EventType.HAND_LOWERED, target, True)]


def _invite(state: RoomState, cmd: c.InviteToSpeak, now: float) -> Result:
    member = _target(state, cmd.actor, cmd.target)
    if member.role is not Role.LISTENER:
        raise RoomError("already_on_stage", "That person is already on stage.")
    state = _put(state, replace(member, invited_at=now))
    return state, [_event(EventType.SPEAK_INVITED, cmd.target, True, by=cmd.actor)]


def _accept(state: RoomState, cmd: c.AcceptInvite, now: float) -> Result:
    member = _present(state, cmd.actor)
    if member.invited_at is None:
        raise RoomError("not_invited", "You have not been invited to speak.")
    raised = member.hand_raised_at is not None  # not truthiness: a hand raised at t=0.0 counts
    events = [_event(EventType.HAND_LOWERED, cmd.actor, True)] if raised else []
    speaker = replace(member, role=Role.SPEAKER, stage_since=now, invited_at=None,
                      hand_raised_at=None, muted=False)
    events.append(_event(EventType.ROLE_CHANGED, cmd.actor, **speaker.public()))
    return _put(state, speaker), events


def _decline(state: RoomState, cmd: c.DeclineInvite, now: float) -> Result:
    member = _present(state, cmd.actor)
    if member.invited_at is None:
        raise RoomError("not_invited", "You have not been invited to speak.")
    state = _put(state, replace(member, invited_at=None))
    return state, [_event(EventType.INVITE_DECLINED, cmd.actor, True)]


def _to_audience(state: RoomState, member: Member) -> Result:
    listener = replace(member, role=Role.LISTENER, stage_since=None, muted=False)
    return _put(state, listener), [_event(EventType.ROLE_CHANGED, member.user_id,
                                          **listener.public())]


def _move_to_audience(state: RoomState, cmd: c.MoveToAudience, now: float) -> Result:
    member = _target(state, cmd.actor, cmd.target)
    if not member.role.on_stage:
        raise RoomError("not_on_stage", "That person is not on stage.")
    return _to_audience(state, member)


def _step_down(state: RoomState, cmd: c.StepDown, now: float) -> Result:
    member = _present(state, cmd.actor)
    if not member.role.on_stage:
        raise RoomError("not_on_stage", "You are not on stage.")
    return _to_audience(state, member)


def _make_moderator(state: RoomState, cmd: c.MakeModerator, now: float) -> Result:
    member = _target(state, cmd.actor, cmd.target)
    if member.role is not Role.SPEAKER:
        raise RoomError("not_speaker", "Only a speaker can be made a moderator.")
    moderator = replace(member, role=Role.MODERATOR)
    return _put(state, moderator), [_event(EventType.ROLE_CHANGED, cmd.target,
                                           **moderator.public())]


def _set_mute(state: RoomState, member: Member, muted: bool, by: int) -> Result:
    if not member.role.on_stage:
        raise RoomError("not_on_stage", "Only people on stage can be muted.")
    if member.muted == muted:
        return state, []
    state = _put(state, replace(member, muted=muted))
    return state, [_event(EventType.MUTE_CHANGED, member.user_id, muted=muted, by=by)]


def _mute(state: RoomState, cmd: c.Mute, now: float) -> Result:
    return _set_mute(state, _target(state, cmd.actor, cmd.target), True, cmd.actor)


def _self_mute(state: RoomState, cmd: c.SetMuted, now: float) -> Result:
    return _set_mute(state, _present(state, cmd.actor), cmd.muted, cmd.actor)


def _allow(state: RoomState, cmd: c.AllowUser, now: float) -> Result:
    _require_moderator(state, cmd.actor)
    if cmd.target in state.allowed:
        return state, []
    state = replace(state, allowed=state.allowed | {cmd.target})
    return state, [_event(EventType.USER_ALLOWED, cmd.target, True, by=cmd.actor)]


def _ping(state: RoomState, cmd: c.Ping, now: float) -> Result:
    actor = _present(state, cmd.actor)
    if cmd.target == cmd.actor:
        raise RoomError("invalid_target", "You cannot ping yourself.")
    if cmd.target in state.members:
        raise RoomError("already_in_room", "That person is already in this room.")
    if not may_ping(state.kind, is_moderator(actor.role), cmd.target_follows_actor):
        if state.kind is RoomKind.CLOSED:
            raise RoomError("forbidden", "In a closed room only moderators can ping people.")
        raise RoomError("forbidden", "You can only ping people who follow you.")
    if state.kind is RoomKind.OPEN or cmd.target in state.allowed or cmd.target == state.host_id:
        return state, []
    state = replace(state, allowed=state.allowed | {cmd.target})
    return state, [_event(EventType.USER_ALLOWED, cmd.target, True, by=cmd.actor)]


def _revoke_moderator(state: RoomState, cmd: c.RevokeModerator, now: float) -> Result:
    member = _target(state, cmd.actor, cmd.target)
    if member.role is not Role.MODERATOR:
        raise RoomError("not_moderator", "That person is not a moderator.")
    if state.moderator_ids == {cmd.target}:
        raise RoomError("last_moderator", "The stage needs a moderator: make someone else one "
                        "first.")
    speaker = replace(member, role=Role.SPEAKER)
    return _put(state, speaker), [_event(EventType.ROLE_CHANGED, cmd.target, **speaker.public())]


def _remove(state: RoomState, cmd: c.RemoveMember, now: float) -> Result:
    _require_moderator(state, cmd.actor)
    if cmd.target == cmd.actor:
        raise RoomError("invalid_target", "You cannot remove yourself; leave instead.")
    if not may_act_on(cmd.actor, cmd.target, state.host_id):
        raise RoomError("forbidden", "Only the host can do that to the host.")
    member = state.member(cmd.target)
    if member is None:
        return state, []  # not here: the service may still ban them
    members = dict(state.members)
    del members[cmd.target]
    extra = {"reason": cmd.reason} if cmd.reason else {}
    event = _event(EventType.MEMBER_REMOVED, cmd.target, role=member.role.value, by=cmd.actor,
                   **extra)
    return replace(state, members=members), [event]


def _hand_policy(state: RoomState, cmd: c.SetHandPolicy, now: float) -> Result:
    _require_moderator(state, cmd.actor)
    try:
        policy = HandPolicy(cmd.policy)
    except ValueError:
        raise RoomError("invalid_policy",
                        "Hand policy is 'nobody', 'everyone' or 'followed'.") from None
    if policy is state.hand_policy:
        return state, []
    queue = state.hand_queue
    state = replace(state, hand_policy=policy)
    events = [_event(EventType.HAND_POLICY_CHANGED, policy=policy.value, by=cmd.actor)]
    if policy is HandPolicy.NOBODY:
        # Hands closed: nobody is left waiting in a queue no moderator will take from.
        for member in queue:
            state = _put(state, replace(member, hand_raised_at=None))
            events.append(_event(EventType.HAND_LOWERED, member.user_id, True))
    return state, events


def _captions(state: RoomState, cmd: c.SetCaptions, now: float) -> Result:
    if cmd.actor != state.host_id:
        raise RoomError("forbidden", "Only the host can turn captions on or off.")
    if cmd.on is state.captions:
        return state, []
    state = replace(state, captions=cmd.on)
    return state, [_event(EventType.CAPTIONS_CHANGED, captions=cmd.on, by=cmd.actor)]


def _recording(state: RoomState, cmd: c.SetRecording, now: float) -> Result:
    if cmd.reason is None and cmd.actor != state.host_id:
        raise RoomError("forbidden", "Only the host can turn recording on or off.")
    if cmd.on == state.recording:
        return state, []
    data: dict[str, object] = {"recording": cmd.on, "by": cmd.actor}
    if cmd.reason is not None:
        data["reason"] = cmd.reason
    return replace(state, recording=cmd.on), [_event(EventType.RECORDING_CHANGED, None, False,
                                                     **data)]


def _end(state: RoomState, cmd: c.EndRoom, now: float) -> Result:
    if cmd.reason is not None:
        return _ended(state, now, cmd.reason)
    if cmd.actor == state.host_id:
        return _ended(state, now, "ended_by_host")
    member = state.member(cmd.actor)
    if member is None or not is_moderator(member.role):
        raise RoomError("forbidden", "Only a moderator can end the room.")
    return _ended(state, now, "ended_by_moderator")


def _ended(state: RoomState, now: float, reason: str) -> Result:
    state = replace(state, status=RoomStatus.ENDED, members={}, ended_at=now,
                    empty_stage_since=None)
    return state, [_event(EventType.ROOM_ENDED, reason=reason)]


def _tick(state: RoomState, now: float) -> Result:
    since = state.empty_stage_since
    if state.live and since is not None and now - since >= state.grace_seconds:
        return _ended(state, now, "stage_empty")
    return state, []


def _settle(state: RoomState, events: list[RoomEvent], now: float) -> Result:
    """Restore the invariants that a command may have disturbed."""
    stage = state.stage
    if stage and not any(m.role is Role.MODERATOR for m in stage):
        # Moderation passes to whoever has been on stage longest.
        heir = min(stage, key=lambda m: (m.stage_since or 0.0, m.user_id))
        moderator = replace(heir, role=Role.MODERATOR)
        state = _put(state, moderator)
        events = [*events, _event(EventType.ROLE_CHANGED, heir.user_id, **moderator.public())]
    if stage and state.empty_stage_since is not None:
        state = replace(state, empty_stage_since=None)
    elif not stage and state.empty_stage_since is None:
        state = replace(state, empty_stage_since=now)
    return state, events


_HANDLERS: dict[type, Callable[[RoomState, Any, float], Result]] = {
    c.Join: _join,
    c.Leave: _leave,
    c.RaiseHand: _raise_hand,
    c.LowerHand: _lower_hand,
    c.InviteToSpeak: _invite,
    c.AcceptInvite: _accept,
    c.DeclineInvite: _decline,
    c.MoveToAudience: _move_to_audience,
    c.MakeModerator: _make_moderator,
    c.Mute: _mute,
    c.SetMuted: _self_mute,
    c.StepDown: _step_down,
    c.AllowUser: _allow,
    c.Ping: _ping,
    c.EndRoom: _end,
    c.RevokeModerator: _revoke_moderator,
    c.RemoveMember: _remove,
    c.SetHandPolicy: _hand_policy,
    c.SetCaptions: _captions,
    c.SetRecording: _recording,
}


def new_room(room_id: str, host_id: int, kind: RoomKind, now: float,
             grace_seconds: float, allowed: frozenset[int] = frozenset(),
             recording: bool = False) -> RoomState:
    """A live room with nobody in it yet; its stage counts as empty from ``now``."""
    return RoomState(room_id, host_id, kind, now, grace_seconds, allowed=allowed,
                     empty_stage_since=now, recording=recording)


def check_invariants(state: RoomState) -> None:
    """Raise AssertionError if the state breaks a rule that must always hold."""
    stage = state.stage
    assert not stage or any(m.role is Role.MODERATOR for m in stage), "stage without moderator"
    for m in state.members.values():
        assert m.hand_raised_at is None or m.role is Role.LISTENER, "hand raised on stage"
        assert m.invited_at is None or m.role is Role.LISTENER, "invitation on stage"
        assert (m.stage_since is not None) == m.role.on_stage, "stage_since mismatch"
        assert not m.muted or m.role.on_stage, "muted listener"
    assert state.heard == {m.user_id for m in stage if not m.muted}
    assert (state.empty_stage_since is None) == bool(stage) or not state.live
    assert state.live or not state.members, "ended room with members"
