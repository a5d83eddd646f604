"""Unit tests for the stage rules, one behaviour each.

Times are plain numbers passed to ``apply``: the domain has no clock of its own.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from podium.domain.commands import (
    AcceptInvite,
    AllowUser,
    Command,
    DeclineInvite,
    EndRoom,
    EventType,
    InviteToSpeak,
    Join,
    Leave,
    LowerHand,
    MakeModerator,
    MoveToAudience,
    Mute,
    RaiseHand,
    RoomError,
    RoomEvent,
    SetHandPolicy,
    SetMuted,
    StepDown,
    Tick,
)
from podium.domain.roles import Role, RoomKind, RoomStatus, may_act_on, may_join
from podium.domain.room import apply, check_invariants, new_room
from podium.domain.state import Member, RoomState
from podium.domain.views import AUDIENCE_PAGE, audience, snapshot

HOST = 1
GRACE = 60.0
T = 100.0  # "now" for the command under test: later than anything a fixture did


def join(user: int) -> Join:
    return Join(user, f"user{user}", f"User {user}")


def step(state: RoomState, command: Command, now: float = T) -> tuple[RoomState, list[RoomEvent]]:
    """Apply a command that the rules must accept, and check the invariants afterwards."""
    new, events = apply(state, command, now)
    check_invariants(new)
    return new, events


def run(state: RoomState, *commands: Command, start: float = 1.0) -> RoomState:
    """Apply commands one second apart, starting at ``start``."""
    for i, command in enumerate(commands):
        state, _ = step(state, command, start + i)
    return state


def refuse(state: RoomState, command: Command, code: str, now: float = T) -> None:
    """The rules refuse ``command`` with ``code`` and leave the state as it was."""
    before = replace(state, members=dict(state.members))
    with pytest.raises(RoomError) as info:
        apply(state, command, now)
    assert info.value.code == code
    assert info.value.message
    assert state == before


def room(kind: RoomKind = RoomKind.OPEN, *, host: bool = True, listeners: tuple[int, ...] = (),
         speakers: tuple[int, ...] = ()) -> RoomState:
    """A room created at t=0; the host joins at t=1, user ``u`` at t=1+u, then each speaker is
    invited and accepts at t=20, 21, ... in the order given (so earlier means longer on stage)."""
    state = new_room("room-1", HOST, kind, 0.0, GRACE)
    check_invariants(state)
    if host:
        state, _ = step(state, join(HOST), 1.0)
    for user in sorted({*listeners, *speakers}):
        if kind is RoomKind.CLOSED:
            state, _ = step(state, AllowUser(HOST, user), 1.0 + user)
        state, _ = step(state, join(user), 1.0 + user)
    for i, user in enumerate(speakers):
        state, _ = step(state, InviteToSpeak(HOST, user), 20.0 + i)
        state, _ = step(state, AcceptInvite(user), 20.0 + i)
    return state


def m(state: RoomState, user_id: int) -> Member:
    member = state.member(user_id)
    assert member is not None
    return member


def public(state: RoomState, user_id: int) -> dict[str, object]:
    return m(state, user_id).public()


def stage_ids(state: RoomState) -> list[int]:
    return [member.user_id for member in state.stage]


# --- the pure predicates -------------------------------------------------------------------------


def test_only_listeners_are_off_stage() -> None:
    assert Role.MODERATOR.on_stage and Role.SPEAKER.on_stage
    assert not Role.LISTENER.on_stage


def test_may_join_open_closed_host_and_allowed() -> None:
    assert may_join(RoomKind.OPEN, 5, HOST, frozenset())
    assert not may_join(RoomKind.CLOSED, 5, HOST, frozenset())
    assert may_join(RoomKind.CLOSED, HOST, HOST, frozenset())
    assert may_join(RoomKind.CLOSED, 5, HOST, frozenset({5}))


def test_nobody_but_the_host_acts_on_the_host() -> None:
    assert not may_act_on(2, HOST, HOST)
    assert may_act_on(HOST, HOST, HOST)
    assert may_act_on(2, 3, HOST)
    assert may_act_on(HOST, 3, HOST)


# --- a new room ----------------------------------------------------------------------------------


def test_new_room_is_live_empty_and_counts_its_empty_stage_from_creation() -> None:
    state = new_room("r", HOST, RoomKind.OPEN, 5.0, GRACE)
    check_invariants(state)
    assert state.live and state.status is RoomStatus.LIVE
    assert state.members == {}
    assert state.empty_stage_since == 5.0
    assert state.created_at == 5.0 and state.ended_at is None


# --- Join ----------------------------------------------------------------------------------------


def test_host_joins_as_moderator_on_stage() -> None:
    state = new_room("r", HOST, RoomKind.OPEN, 0.0, GRACE)
    state, events = step(state, join(HOST), 3.0)
    host = m(state, HOST)
    assert host.role is Role.MODERATOR
    assert host.stage_since == 3.0 and host.joined_at == 3.0
    assert not host.muted
    assert events == [RoomEvent(EventType.MEMBER_JOINED, host.public(), HOST, False)]
    assert not events[0].is_audience_only
    assert state.empty_stage_since is None


def test_anyone_else_joins_an_open_room_as_listener() -> None:
    state = room()
    state, events = step(state, join(4))
    member = m(state, 4)
    assert member.role is Role.LISTENER and member.stage_since is None
    assert (member.username, member.display_name) == ("user4", "User 4")
    assert events == [RoomEvent(EventType.MEMBER_JOINED, member.public(), 4, False)]
    assert events[0].to_dict() == {
        "type": "member_joined", "user_id": 4, "username": "user4", "display_name": "User 4",
        "role": "listener", "muted": False, "joined_at": T, "stage_since": None,
    }
    assert events[0].is_audience_only


def test_joining_twice_is_a_no_op() -> None:
    state = room(listeners=(2,))
    again, events = step(state, join(2))
    assert events == []
    assert again == state


def test_host_joining_twice_is_a_no_op() -> None:
    state = room()
    again, events = step(state, join(HOST))
    assert events == [] and again == state


def test_a_listener_joining_leaves_the_stage_empty() -> None:
    state = room(host=False)
    state, _ = step(state, join(2), 5.0)
    assert state.stage == [] and state.empty_stage_since == 0.0


def test_closed_room_refuses_a_stranger() -> None:
    refuse(room(RoomKind.CLOSED), join(2), "not_invited")


def test_closed_room_admits_the_host() -> None:
    state, _ = step(room(RoomKind.CLOSED, host=False), join(HOST))
    assert m(state, HOST).role is Role.MODERATOR


def test_closed_room_admits_someone_a_moderator_allowed() -> None:
    state, _ = step(room(RoomKind.CLOSED), AllowUser(HOST, 2))
    state, events = step(state, join(2))
    assert m(state, 2).role is Role.LISTENER
    assert [e.type for e in events] == [EventType.MEMBER_JOINED]


def test_allowed_user_may_come_back_after_leaving() -> None:
    state = run(room(RoomKind.CLOSED), AllowUser(HOST, 2), join(2), Leave(2))
    state, _ = step(state, join(2))
    assert 2 in state.members


def test_host_comes_back_as_moderator_after_leaving() -> None:
    state = run(room(listeners=(2,)), Leave(HOST), start=50.0)
    assert HOST not in state.members
    state, events = step(state, join(HOST))
    assert m(state, HOST).role is Role.MODERATOR
    assert m(state, HOST).stage_since == T
    assert events[0].data["role"] == "moderator"


def test_host_comes_back_as_moderator_after_stepping_down_and_leaving() -> None:
    state = run(room(), StepDown(HOST), Leave(HOST), start=50.0)
    state, _ = step(state, join(HOST))
    assert m(state, HOST).role is Role.MODERATOR


def test_host_coming_back_joins_the_heir_as_a_second_moderator() -> None:
    state = run(room(speakers=(2,)), Leave(HOST), start=50.0)
    assert m(state, 2).role is Role.MODERATOR
    state, events = step(state, join(HOST))
    assert state.moderator_ids == {HOST, 2}
    assert stage_ids(state) == [2, HOST]  # moderators by time on stage
    assert [e.type for e in events] == [EventType.MEMBER_JOINED]


def test_host_joining_an_empty_stage_clears_the_empty_stage_clock() -> None:
    state = room(host=False, listeners=(2,))
    assert state.empty_stage_since == 0.0
    state, _ = step(state, join(HOST))
    assert state.empty_stage_since is None


# --- Leave ---------------------------------------------------------------------------------------


def test_listener_leaves() -> None:
    state = room(listeners=(2,))
    state, events = step(state, Leave(2))
    assert 2 not in state.members
    assert events == [RoomEvent(EventType.MEMBER_LEFT, {"user_id": 2, "role": "listener"}, 2)]
    assert events[0].is_audience_only


def test_speaker_leaving_is_not_an_audience_only_event() -> None:
    state, events = step(room(speakers=(2,)), Leave(2))
    assert events == [RoomEvent(EventType.MEMBER_LEFT, {"user_id": 2, "role": "speaker"}, 2)]
    assert not events[0].is_audience_only
    assert 2 not in state.heard


def test_leave_when_not_in_room_is_refused() -> None:
    refuse(room(), Leave(2), "not_in_room")


def test_leaving_takes_a_raised_hand_out_of_the_queue() -> None:
    state = run(room(listeners=(2, 3)), RaiseHand(2), RaiseHand(3), start=50.0)
    state, _ = step(state, Leave(2))
    assert [x.user_id for x in state.hand_queue] == [3]


def test_leaving_with_a_pending_invitation_forgets_it() -> None:
    state = run(room(listeners=(2,)), InviteToSpeak(HOST, 2), Leave(2), join(2), start=50.0)
    refuse(state, AcceptInvite(2), "not_invited")


def test_last_one_off_the_stage_starts_the_empty_stage_clock() -> None:
    state, _ = step(room(listeners=(2,)), Leave(HOST), 42.0)
    assert state.stage == []
    assert state.empty_stage_since == 42.0


def test_leaving_while_another_moderator_remains_passes_nothing_on() -> None:
    state = run(room(speakers=(2, 3)), MakeModerator(HOST, 3), start=50.0)
    state, events = step(state, Leave(HOST))
    assert [e.type for e in events] == [EventType.MEMBER_LEFT]
    assert m(state, 2).role is Role.SPEAKER and m(state, 3).role is Role.MODERATOR


# --- moderation succession -----------------------------------------------------------------------


def test_last_moderator_leaving_passes_moderation_to_the_longest_serving_speaker() -> None:
    state = room(speakers=(3, 2, 4))  # 3 went on stage first, then 2, then 4
    state, events = step(state, Leave(HOST))
    assert m(state, 3).role is Role.MODERATOR
    assert m(state, 2).role is Role.SPEAKER and m(state, 4).role is Role.SPEAKER
    assert events == [
        RoomEvent(EventType.MEMBER_LEFT, {"user_id": HOST, "role": "moderator"}, HOST),
        RoomEvent(EventType.ROLE_CHANGED, public(state, 3), 3),
    ]
    assert events[1].data["role"] == "moderator"
    assert stage_ids(state) == [3, 2, 4]


def test_succession_ties_go_to_the_lowest_user_id() -> None:
    state = run(room(listeners=(2, 3, 4)), InviteToSpeak(HOST, 4), InviteToSpeak(HOST, 3),
                InviteToSpeak(HOST, 2), start=30.0)
    for user in (4, 3, 2):  # all go on stage at the same moment
        state, _ = step(state, AcceptInvite(user), 40.0)
    state, _ = step(state, Leave(HOST))
    assert state.moderator_ids == {2}


def test_succession_when_the_last_moderator_steps_down() -> None:
    state, events = step(room(speakers=(2, 3)), StepDown(HOST))
    assert m(state, HOST).role is Role.LISTENER
    assert m(state, 2).role is Role.MODERATOR
    assert [(e.type, e.subject) for e in events] == [
        (EventType.ROLE_CHANGED, HOST), (EventType.ROLE_CHANGED, 2)]


def test_succession_when_the_last_moderator_moves_themself_to_the_audience() -> None:
    state, events = step(room(speakers=(2, 3)), MoveToAudience(HOST, HOST))
    assert state.moderator_ids == {2}
    assert [e.subject for e in events] == [HOST, 2]


def test_demoting_one_of_two_moderators_passes_nothing_on() -> None:
    state = run(room(speakers=(2, 3)), MakeModerator(HOST, 2), start=50.0)
    state, events = step(state, MoveToAudience(HOST, 2))
    assert state.moderator_ids == {HOST}
    assert [e.subject for e in events] == [2]


def test_no_succession_to_listeners() -> None:
    state, events = step(room(listeners=(2, 3)), Leave(HOST))
    assert state.moderator_ids == frozenset()
    assert [e.type for e in events] == [EventType.MEMBER_LEFT]


def test_heir_keeps_their_time_on_stage() -> None:
    state = room(speakers=(2,))
    since = m(state, 2).stage_since
    state, _ = step(state, Leave(HOST))
    assert m(state, 2).stage_since == since


# --- RaiseHand / LowerHand -----------------------------------------------------------------------


def test_listener_raises_a_hand_privately() -> None:
    state, events = step(room(listeners=(2,)), RaiseHand(2), 7.5)
    assert m(state, 2).hand_raised_at == 7.5
    assert events == [RoomEvent(EventType.HAND_RAISED, {
        "user_id": 2, "at": 7.5, "username": "user2", "display_name": "User 2",
        "invited": False}, 2, True)]


def test_raising_a_raised_hand_gives_no_events() -> None:
    state, _ = step(room(listeners=(2,)), RaiseHand(2), 7.0)
    again, events = step(state, RaiseHand(2), 9.0)
    assert events == []
    assert again == state
    assert m(again, 2).hand_raised_at == 7.0  # keeps its place in the queue


@pytest.mark.parametrize("user", [HOST, 2])
def test_people_on_stage_cannot_raise_a_hand(user: int) -> None:
    refuse(room(speakers=(2,)), RaiseHand(user), "not_listener")


def test_raise_hand_when_not_in_room_is_refused() -> None:
    refuse(room(), RaiseHand(2), "not_in_room")


def test_hand_queue_is_ordered_by_time_then_user_id() -> None:
    state = room(listeners=(2, 3, 4, 5))
    state, _ = step(state, RaiseHand(5), 10.0)
    state, _ = step(state, RaiseHand(4), 12.0)
    state, _ = step(state, RaiseHand(3), 12.0)
    state, _ = step(state, RaiseHand(2), 13.0)
    assert [x.user_id for x in state.hand_queue] == [5, 3, 4, 2]


def test_closing_hands_to_nobody_lowers_every_raised_hand() -> None:
    state = run(room(listeners=(2, 3, 4)), RaiseHand(3), RaiseHand(2), start=50.0)
    state, events = step(state, SetHandPolicy(HOST, "nobody"))
    assert state.hand_queue == []
    assert [e.type for e in events] == [
        EventType.HAND_POLICY_CHANGED, EventType.HAND_LOWERED, EventType.HAND_LOWERED,
    ]
    assert [(e.data["user_id"], e.private) for e in events[1:]] == [(3, True), (2, True)]
    refuse(state, RaiseHand(4), "hands_closed")
    again, events = step(state, SetHandPolicy(HOST, "followed"))
    assert [e.type for e in events] == [EventType.HAND_POLICY_CHANGED]


def test_listener_lowers_their_own_hand_privately() -> None:
    state = run(room(listeners=(2,)), RaiseHand(2), start=50.0)
    state, events = step(state, LowerHand(2))
    assert m(state, 2).hand_raised_at is None
    assert events == [RoomEvent(EventType.HAND_LOWERED, {"user_id": 2}, 2, True)]


def test_naming_yourself_as_target_is_lowering_your_own_hand() -> None:
    state = run(room(listeners=(2,)), RaiseHand(2), start=50.0)
    state, events = step(state, LowerHand(2, target=2))
    assert m(state, 2).hand_raised_at is None and len(events) == 1


def test_lowering_a_hand_that_is_not_raised_is_a_no_op() -> None:
    state = room(listeners=(2,))
    again, events = step(state, LowerHand(2))
    assert events == [] and again == state


def test_moderator_lowering_a_hand_that_is_not_raised_is_a_no_op() -> None:
    state = room(listeners=(2,))
    again, events = step(state, LowerHand(HOST, target=2))
    assert events == [] and again == state


def test_moderator_lowers_someone_elses_hand() -> None:
    state = run(room(listeners=(2,)), RaiseHand(2), start=50.0)
    state, events = step(state, LowerHand(HOST, target=2))
    assert m(state, 2).hand_raised_at is None
    assert events == [RoomEvent(EventType.HAND_LOWERED, {"user_id": 2}, 2, True)]


def test_listener_cannot_lower_someone_elses_hand() -> None:
    state = run(room(listeners=(2, 3)), RaiseHand(3), start=50.0)
    refuse(state, LowerHand(2, target=3), "forbidden")


def test_speaker_cannot_lower_someone_elses_hand() -> None:
    state = run(room(listeners=(3,), speakers=(2,)), RaiseHand(3), start=50.0)
    refuse(state, LowerHand(2, target=3), "forbidden")


def test_moderator_lowering_the_hand_of_someone_absent_is_refused() -> None:
    refuse(room(), LowerHand(HOST, target=9), "not_in_room")


def test_lower_hand_when_not_in_room_is_refused() -> None:
    refuse(room(), LowerHand(2), "not_in_room")


def test_only_the_host_lowers_the_hosts_hand() -> None:
    # The host steps down and raises a hand; the moderator who took over cannot lower it.
    state = run(room(speakers=(2,)), StepDown(HOST), RaiseHand(HOST), start=50.0)
    assert m(state, 2).role is Role.MODERATOR
    refuse(state, LowerHand(2, target=HOST), "forbidden")
    state, events = step(state, LowerHand(HOST))
    assert len(events) == 1


# --- InviteToSpeak / AcceptInvite / DeclineInvite ------------------------------------------------


def test_moderator_invites_a_listener_privately() -> None:
    state, events = step(room(listeners=(2,)), InviteToSpeak(HOST, 2), 33.0)
    assert m(state, 2).invited_at == 33.0
    assert m(state, 2).role is Role.LISTENER
    assert events == [RoomEvent(EventType.SPEAK_INVITED, {"user_id": 2, "by": HOST}, 2, True)]


def test_listener_with_a_raised_hand_may_be_invited() -> None:
    state = run(room(listeners=(2,)), RaiseHand(2), InviteToSpeak(HOST, 2), start=50.0)
    assert m(state, 2).hand_raised_at is not None and m(state, 2).invited_at is not None


def test_non_moderator_cannot_invite() -> None:
    refuse(room(listeners=(3,), speakers=(2,)), InviteToSpeak(2, 3), "forbidden")


def test_listener_cannot_invite() -> None:
    refuse(room(listeners=(2, 3)), InviteToSpeak(2, 3), "forbidden")


def test_invite_someone_on_stage_is_refused() -> None:
    refuse(room(speakers=(2,)), InviteToSpeak(HOST, 2), "already_on_stage")


def test_invite_someone_absent_is_refused() -> None:
    refuse(room(), InviteToSpeak(HOST, 2), "not_in_room")


def test_invite_by_someone_absent_is_refused() -> None:
    refuse(room(listeners=(2,)), InviteToSpeak(9, 2), "not_in_room")


def test_only_the_host_invites_the_host() -> None:
    state = run(room(speakers=(2,)), StepDown(HOST), start=50.0)
    refuse(state, InviteToSpeak(2, HOST), "forbidden")


def test_accepting_puts_the_listener_on_stage_unmuted() -> None:
    state = run(room(listeners=(2,)), InviteToSpeak(HOST, 2), start=50.0)
    state, events = step(state, AcceptInvite(2))
    speaker = m(state, 2)
    assert speaker.role is Role.SPEAKER
    assert speaker.stage_since == T and speaker.invited_at is None and not speaker.muted
    assert 2 in state.heard
    assert events == [RoomEvent(EventType.ROLE_CHANGED, speaker.public(), 2)]
    assert events[0].to_dict()["role"] == "speaker"


def test_accepting_with_a_raised_hand_lowers_it_first() -> None:
    state = run(room(listeners=(2,)), RaiseHand(2), InviteToSpeak(HOST, 2), start=50.0)
    state, events = step(state, AcceptInvite(2))
    assert m(state, 2).hand_raised_at is None
    assert state.hand_queue == []
    assert events == [
        RoomEvent(EventType.HAND_LOWERED, {"user_id": 2}, 2, True),
        RoomEvent(EventType.ROLE_CHANGED, public(state, 2), 2),
    ]


def test_accepting_announces_a_hand_raised_at_time_zero() -> None:
    # Regression: the hand was tested for truthiness, so a hand raised at t=0.0 was dropped from
    # the queue without a hand_lowered event and moderators' queues went stale.
    state = new_room("r", HOST, RoomKind.OPEN, 0.0, GRACE)
    state, _ = step(state, join(2), 0.0)
    state, _ = step(state, RaiseHand(2), 0.0)
    state = run(state, join(HOST), InviteToSpeak(HOST, 2))
    state, events = step(state, AcceptInvite(2))
    assert [e.type for e in events] == [EventType.HAND_LOWERED, EventType.ROLE_CHANGED]


def test_accept_without_an_invitation_is_refused() -> None:
    refuse(room(listeners=(2,)), AcceptInvite(2), "not_invited")


def test_accepting_twice_is_refused() -> None:
    state = run(room(listeners=(2,)), InviteToSpeak(HOST, 2), AcceptInvite(2), start=50.0)
    refuse(state, AcceptInvite(2), "not_invited")


def test_accept_when_not_in_room_is_refused() -> None:
    refuse(room(), AcceptInvite(2), "not_in_room")


def test_accepting_onto_an_empty_stage_makes_the_speaker_moderator() -> None:
    state = run(room(listeners=(2,)), InviteToSpeak(HOST, 2), Leave(HOST), start=50.0)
    state, events = step(state, AcceptInvite(2))
    assert m(state, 2).role is Role.MODERATOR
    assert [e.data["role"] for e in events] == ["speaker", "moderator"]
    assert state.empty_stage_since is None


def test_declining_clears_the_invitation_privately_and_keeps_the_hand() -> None:
    state = run(room(listeners=(2,)), RaiseHand(2), InviteToSpeak(HOST, 2), start=50.0)
    state, events = step(state, DeclineInvite(2))
    assert m(state, 2).invited_at is None
    assert m(state, 2).role is Role.LISTENER
    assert m(state, 2).hand_raised_at is not None
    assert events == [RoomEvent(EventType.INVITE_DECLINED, {"user_id": 2}, 2, True)]


def test_decline_without_an_invitation_is_refused() -> None:
    refuse(room(listeners=(2,)), DeclineInvite(2), "not_invited")


def test_decline_when_not_in_room_is_refused() -> None:
    refuse(room(), DeclineInvite(2), "not_in_room")


# --- MoveToAudience / StepDown -------------------------------------------------------------------


def test_moderator_moves_a_speaker_to_the_audience() -> None:
    state = run(room(speakers=(2,)), SetMuted(2, True), start=50.0)
    state, events = step(state, MoveToAudience(HOST, 2))
    listener = m(state, 2)
    assert listener.role is Role.LISTENER
    assert listener.stage_since is None and not listener.muted
    assert 2 not in state.heard
    assert events == [RoomEvent(EventType.ROLE_CHANGED, listener.public(), 2)]
    assert events[0].data["role"] == "listener"


def test_moderator_moves_another_moderator_to_the_audience() -> None:
    state = run(room(speakers=(2,)), MakeModerator(HOST, 2), start=50.0)
    state, _ = step(state, MoveToAudience(HOST, 2))
    assert m(state, 2).role is Role.LISTENER


def test_non_moderator_cannot_move_anyone() -> None:
    refuse(room(speakers=(2, 3)), MoveToAudience(2, 3), "forbidden")


def test_moving_a_listener_to_the_audience_is_refused() -> None:
    refuse(room(listeners=(2,)), MoveToAudience(HOST, 2), "not_on_stage")


def test_moving_someone_absent_is_refused() -> None:
    refuse(room(), MoveToAudience(HOST, 2), "not_in_room")


def test_only_the_host_moves_the_host() -> None:
    state = run(room(speakers=(2,)), MakeModerator(HOST, 2), start=50.0)
    refuse(state, MoveToAudience(2, HOST), "forbidden")


def test_host_moves_themself_to_the_audience() -> None:
    state, _ = step(room(), MoveToAudience(HOST, HOST))
    assert m(state, HOST).role is Role.LISTENER


def test_moved_back_listener_returns_to_their_place_in_the_audience() -> None:
    state = room(listeners=(3,), speakers=(2,))
    state, events = step(state, MoveToAudience(HOST, 2))
    assert [x.user_id for x in audience(state)] == [2, 3]  # by joined_at, not by time moved
    assert events[0].data["joined_at"] == m(state, 2).joined_at


def test_speaker_steps_down() -> None:
    state, events = step(room(speakers=(2,)), StepDown(2))
    assert m(state, 2).role is Role.LISTENER and m(state, 2).stage_since is None
    assert events == [RoomEvent(EventType.ROLE_CHANGED, public(state, 2), 2)]


def test_step_down_clears_a_self_mute() -> None:
    state = run(room(speakers=(2,)), SetMuted(2, True), start=50.0)
    state, _ = step(state, StepDown(2))
    assert not m(state, 2).muted


def test_listener_cannot_step_down() -> None:
    refuse(room(listeners=(2,)), StepDown(2), "not_on_stage")


def test_step_down_when_not_in_room_is_refused() -> None:
    refuse(room(), StepDown(2), "not_in_room")


def test_host_stepping_down_alone_empties_the_stage() -> None:
    state, _ = step(room(), StepDown(HOST), 44.0)
    assert state.stage == [] and state.empty_stage_since == 44.0


# --- MakeModerator -------------------------------------------------------------------------------


def test_moderator_makes_a_speaker_moderator() -> None:
    state = room(speakers=(2,))
    since = m(state, 2).stage_since
    state, events = step(state, MakeModerator(HOST, 2))
    assert m(state, 2).role is Role.MODERATOR
    assert m(state, 2).stage_since == since
    assert events == [RoomEvent(EventType.ROLE_CHANGED, public(state, 2), 2)]
    assert events[0].data["role"] == "moderator"


def test_a_new_moderator_may_moderate() -> None:
    state = run(room(listeners=(3,), speakers=(2,)), MakeModerator(HOST, 2), start=50.0)
    state, _ = step(state, InviteToSpeak(2, 3))
    assert m(state, 3).invited_at is not None


@pytest.mark.parametrize("target", [HOST, 3])
def test_only_speakers_can_be_made_moderator(target: int) -> None:
    # The host is already a moderator; 3 is a listener.
    refuse(room(listeners=(3,), speakers=(2,)), MakeModerator(HOST, target), "not_speaker")


def test_non_moderator_cannot_make_moderators() -> None:
    refuse(room(speakers=(2, 3)), MakeModerator(2, 3), "forbidden")


def test_make_moderator_of_someone_absent_is_refused() -> None:
    refuse(room(), MakeModerator(HOST, 2), "not_in_room")


def test_moderators_come_first_on_stage() -> None:
    state = room(speakers=(2, 3, 4))
    state, _ = step(state, MakeModerator(HOST, 4))
    assert stage_ids(state) == [HOST, 4, 2, 3]


# --- Mute / SetMuted -----------------------------------------------------------------------------


def test_moderator_mutes_a_speaker() -> None:
    state, events = step(room(speakers=(2,)), Mute(HOST, 2))
    assert m(state, 2).muted
    assert 2 not in state.heard and HOST in state.heard
    assert events == [RoomEvent(EventType.MUTE_CHANGED,
                                {"user_id": 2, "muted": True, "by": HOST}, 2)]


def test_muting_a_muted_speaker_is_a_no_op() -> None:
    state = run(room(speakers=(2,)), Mute(HOST, 2), start=50.0)
    again, events = step(state, Mute(HOST, 2))
    assert events == [] and again == state


def test_moderator_may_mute_themself_with_mute() -> None:
    state, _ = step(room(), Mute(HOST, HOST))
    assert m(state, HOST).muted


def test_muting_a_listener_is_refused() -> None:
    refuse(room(listeners=(2,)), Mute(HOST, 2), "not_on_stage")


def test_non_moderator_cannot_mute() -> None:
    refuse(room(speakers=(2, 3)), Mute(2, 3), "forbidden")


def test_mute_someone_absent_is_refused() -> None:
    refuse(room(), Mute(HOST, 2), "not_in_room")


def test_only_the_host_mutes_the_host() -> None:
    state = run(room(speakers=(2,)), MakeModerator(HOST, 2), start=50.0)
    refuse(state, Mute(2, HOST), "forbidden")


def test_host_mutes_another_moderator() -> None:
    state = run(room(speakers=(2,)), MakeModerator(HOST, 2), start=50.0)
    state, _ = step(state, Mute(HOST, 2))
    assert m(state, 2).muted


def test_only_the_muted_person_can_unmute() -> None:
    state = run(room(speakers=(2,)), Mute(HOST, 2), start=50.0)
    # A moderator's SetMuted only ever concerns the moderator.
    state, _ = step(state, SetMuted(HOST, False))
    assert m(state, 2).muted
    state, events = step(state, SetMuted(2, False))
    assert not m(state, 2).muted and 2 in state.heard
    assert events == [RoomEvent(EventType.MUTE_CHANGED,
                                {"user_id": 2, "muted": False, "by": 2}, 2)]


def test_speaker_mutes_themself() -> None:
    state, events = step(room(speakers=(2,)), SetMuted(2, True))
    assert m(state, 2).muted and 2 not in state.heard
    assert events == [RoomEvent(EventType.MUTE_CHANGED,
                                {"user_id": 2, "muted": True, "by": 2}, 2)]


@pytest.mark.parametrize("muted", [True, False])
def test_setting_the_mute_you_already_have_is_a_no_op(muted: bool) -> None:
    state = room(speakers=(2,))
    if muted:
        state = run(state, SetMuted(2, True), start=50.0)
    again, events = step(state, SetMuted(2, muted))
    assert events == [] and again == state


def test_listener_cannot_set_muted() -> None:
    refuse(room(listeners=(2,)), SetMuted(2, True), "not_on_stage")


def test_set_muted_when_not_in_room_is_refused() -> None:
    refuse(room(), SetMuted(2, True), "not_in_room")


def test_accepting_a_new_invitation_unmutes() -> None:
    state = run(room(speakers=(2,)), SetMuted(2, True), StepDown(2), InviteToSpeak(HOST, 2),
                AcceptInvite(2), start=50.0)
    assert not m(state, 2).muted


def test_heard_is_exactly_the_unmuted_stage() -> None:
    state = run(room(listeners=(5,), speakers=(2, 3, 4)), Mute(HOST, 3), SetMuted(4, True),
                start=50.0)
    assert state.heard == {HOST, 2}


# --- AllowUser -----------------------------------------------------------------------------------


def test_moderator_allows_someone_privately() -> None:
    state, events = step(room(RoomKind.CLOSED), AllowUser(HOST, 7))
    assert state.allowed == {7}
    assert events == [RoomEvent(EventType.USER_ALLOWED, {"user_id": 7, "by": HOST}, 7, True)]


def test_allowing_twice_is_a_no_op() -> None:
    state = run(room(RoomKind.CLOSED), AllowUser(HOST, 7), start=50.0)
    again, events = step(state, AllowUser(HOST, 7))
    assert events == [] and again == state


def test_non_moderator_cannot_allow() -> None:
    refuse(room(RoomKind.CLOSED, speakers=(2,)), AllowUser(2, 7), "forbidden")


def test_allow_by_someone_absent_is_refused() -> None:
    refuse(room(RoomKind.CLOSED), AllowUser(9, 7), "not_in_room")


# --- EndRoom -------------------------------------------------------------------------------------


def test_host_ends_the_room_at_once() -> None:
    state, events = step(room(listeners=(3,), speakers=(2,)), EndRoom(HOST), 77.0)
    assert state.status is RoomStatus.ENDED and not state.live
    assert state.members == {} and state.ended_at == 77.0
    assert state.heard == frozenset()
    assert events == [RoomEvent(EventType.ROOM_ENDED, {"reason": "ended_by_host"})]
    assert events[0].to_dict() == {"type": "room_ended", "reason": "ended_by_host"}


def test_a_moderator_who_is_not_the_host_can_end_the_room() -> None:
    # Moderation issue: every moderator may end the room, not only the host.
    state = run(room(speakers=(2,)), MakeModerator(HOST, 2), start=50.0)
    after, events = apply(state, EndRoom(2), 60.0)
    assert not after.live
    assert [e.data.get("reason") for e in events] == ["ended_by_moderator"]


def test_a_speaker_cannot_end_the_room() -> None:
    refuse(room(speakers=(2,)), EndRoom(2), "forbidden")


def test_a_listener_cannot_end_the_room() -> None:
    refuse(room(listeners=(2,)), EndRoom(2), "forbidden")


ALL_COMMANDS: list[Command] = [
    join(HOST), join(2), Leave(HOST), RaiseHand(2), LowerHand(2), LowerHand(HOST, 2),
    InviteToSpeak(HOST, 2), AcceptInvite(2), DeclineInvite(2), MoveToAudience(HOST, 2),
    MakeModerator(HOST, 2), Mute(HOST, 2), SetMuted(HOST, True), StepDown(HOST),
    AllowUser(HOST, 2), EndRoom(HOST),
]


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: type(c).__name__)
def test_an_ended_room_refuses_every_command(command: Command) -> None:
    state, _ = step(room(speakers=(2,)), EndRoom(HOST), 50.0)
    refuse(state, command, "room_ended")


def test_tick_on_an_ended_room_is_a_no_op() -> None:
    state, _ = step(room(), EndRoom(HOST), 50.0)
    again, events = step(state, Tick(), 10_000.0)
    assert events == [] and again == state


# --- Tick and the grace period -------------------------------------------------------------------


def test_an_empty_new_room_ends_when_its_grace_period_runs_out() -> None:
    state = new_room("r", HOST, RoomKind.OPEN, 10.0, GRACE)
    state, events = step(state, Tick(), 10.0 + GRACE - 0.001)
    assert state.live and events == []
    state, events = step(state, Tick(), 10.0 + GRACE)
    assert not state.live and state.ended_at == 10.0 + GRACE
    assert events == [RoomEvent(EventType.ROOM_ENDED, {"reason": "stage_empty"})]


def test_tick_never_ends_a_room_with_someone_on_stage() -> None:
    state = room()
    again, events = step(state, Tick(), 1_000_000.0)
    assert events == [] and again == state


def test_a_muted_stage_still_counts_as_occupied() -> None:
    state = run(room(), SetMuted(HOST, True), start=50.0)
    again, events = step(state, Tick(), 1_000_000.0)
    assert again.live and events == []


def test_grace_period_counts_from_when_the_stage_emptied() -> None:
    state, _ = step(room(listeners=(2,)), Leave(HOST), 100.0)
    state, events = step(state, Tick(), 100.0 + GRACE - 1)
    assert state.live and events == []
    state, events = step(state, Tick(), 100.0 + GRACE)
    assert not state.live
    assert [e.data["reason"] for e in events] == ["stage_empty"]


def test_a_room_with_only_listeners_ends_too() -> None:
    state, _ = step(room(listeners=(2, 3)), StepDown(HOST), 100.0)
    state, _ = step(state, Tick(), 100.0 + GRACE)
    assert not state.live and state.members == {}


def test_refilling_the_stage_resets_the_grace_period() -> None:
    state = room(listeners=(2,))
    state, _ = step(state, Leave(HOST), 100.0)
    state, _ = step(state, join(HOST), 130.0)
    assert state.empty_stage_since is None
    state, _ = step(state, Leave(HOST), 150.0)
    assert state.empty_stage_since == 150.0
    state, _ = step(state, Tick(), 100.0 + GRACE + 1)
    assert state.live
    state, _ = step(state, Tick(), 150.0 + GRACE)
    assert not state.live


def test_tick_with_the_stage_still_empty_but_time_not_up_changes_nothing() -> None:
    state, _ = step(room(listeners=(2,)), Leave(HOST), 100.0)
    again, events = step(state, Tick(), 101.0)
    assert again == state and events == []


# --- snapshot ------------------------------------------------------------------------------------


def test_moderators_see_the_hand_queue_and_others_do_not() -> None:
    state = run(room(listeners=(3, 4), speakers=(2,)), RaiseHand(4), RaiseHand(3), start=50.0)
    assert snapshot(state, HOST)["hands"] == [
        {"user_id": 4, "username": "user4", "display_name": "User 4", "at": 50.0,
         "invited": False},
        {"user_id": 3, "username": "user3", "display_name": "User 3", "at": 51.0,
         "invited": False},
    ]
    for viewer in (2, 3, 4, 99):
        assert snapshot(state, viewer)["hands"] is None


def test_snapshot_for_a_listener() -> None:
    state = run(room(listeners=(3,), speakers=(2,)), RaiseHand(3), Mute(HOST, 2), start=50.0)
    snap = snapshot(state, 3)
    assert snap == {
        "room_id": "room-1",
        "host_id": HOST,
        "kind": "open",
        "status": "live",
        "hand_policy": "everyone",
        "recording": False,
        "captions": False,
        "stage": [public(state, HOST), public(state, 2)],
        "audience_count": 1,
        "audience": [public(state, 3)],
        "hands": None,
        "me": {"user_id": 3, "role": "listener", "muted": False, "hand_raised": True,
               "invited": False},
    }
    assert snap["stage"][1]["muted"] is True  # type: ignore[index]


def test_snapshot_shows_a_pending_invitation_to_its_subject() -> None:
    state = run(room(listeners=(3,)), InviteToSpeak(HOST, 3), start=50.0)
    assert snapshot(state, 3)["me"] == {"user_id": 3, "role": "listener", "muted": False,
                                        "hand_raised": False, "invited": True}


def test_snapshot_for_someone_outside_the_room() -> None:
    state = room(RoomKind.CLOSED, listeners=(2,))
    snap = snapshot(state, 99)
    assert snap["me"] is None and snap["hands"] is None
    assert snap["kind"] == "closed"
    assert snap["audience_count"] == 1


def test_snapshot_of_an_ended_room() -> None:
    state, _ = step(room(listeners=(2,)), EndRoom(HOST), 50.0)
    snap = snapshot(state, 2)
    assert snap["status"] == "ended"
    assert snap["stage"] == [] and snap["audience"] == [] and snap["audience_count"] == 0
    assert snap["me"] is None


def test_audience_is_paged_by_join_order() -> None:
    state = room()
    for user in range(AUDIENCE_PAGE + 10, 1, -1):  # join in reverse id order
        state, _ = step(state, join(user), 1000.0 - user)
    page = snapshot(state, HOST)["audience"]
    assert isinstance(page, list) and len(page) == AUDIENCE_PAGE
    assert [entry["user_id"] for entry in page] == list(range(AUDIENCE_PAGE + 10, 10, -1))
    assert snapshot(state, HOST)["audience_count"] == AUDIENCE_PAGE + 9
    assert [x.user_id for x in audience(state, offset=AUDIENCE_PAGE)] == list(range(10, 1, -1))


def test_audience_ties_in_join_time_go_by_user_id() -> None:
    state = room()
    for user in (5, 3, 4):
        state, _ = step(state, join(user), 9.0)
    assert [x.user_id for x in audience(state)] == [3, 4, 5]


# --- check_invariants itself ---------------------------------------------------------------------


def test_check_invariants_catches_a_stage_without_moderator() -> None:
    state = room(speakers=(2,))
    broken = replace(state, members={2: m(state, 2)})
    with pytest.raises(AssertionError, match="stage without moderator"):
        check_invariants(broken)


def test_check_invariants_catches_a_hand_raised_on_stage() -> None:
    state = room(speakers=(2,))
    broken = replace(state, members={**state.members, 2: replace(m(state, 2), hand_raised_at=1.0)})
    with pytest.raises(AssertionError, match="hand raised on stage"):
        check_invariants(broken)


def test_check_invariants_catches_a_muted_listener() -> None:
    state = room(listeners=(2,))
    broken = replace(state, members={**state.members, 2: replace(m(state, 2), muted=True)})
    with pytest.raises(AssertionError, match="muted listener"):
        check_invariants(broken)
