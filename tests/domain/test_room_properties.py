"""Property tests: random command sequences against the pure room rules.

Six users (user 1 is the host) send random commands, some aimed at whatever the room currently
looks like so that stages fill up, at non-decreasing times (equal times exercise the tie-breaks).
After every step the invariants hold, refused commands change nothing, and every viewer who was
in the room can rebuild their new snapshot from their old one plus the events delivered to them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    RemoveMember,
    RevokeModerator,
    RoomError,
    RoomEvent,
    SetHandPolicy,
    SetMuted,
    SetRecording,
    StepDown,
    Tick,
)
from podium.domain.roles import Role, RoomKind
from podium.domain.room import apply, check_invariants, new_room
from podium.domain.state import RoomState
from podium.domain.views import snapshot

from .reducer import apply_events, delivered

# Passing runs take seconds; shrinking a failure can take minutes, more than the suite's default.
pytestmark = pytest.mark.timeout(600)

HOST = 1
USERS = tuple(range(1, 7))
GRACE = 60.0

PRIVATE_TYPES = frozenset({
    EventType.HAND_RAISED, EventType.HAND_LOWERED, EventType.SPEAK_INVITED,
    EventType.INVITE_DECLINED, EventType.USER_ALLOWED,
})

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Mostly small steps; now and then long enough for the grace period to run out.
TIME_STEPS = (0.0, 0.0, 0.5, 1.0, 1.0, 1.0, 2.0, 2.0, 5.0, 5.0, 15.0, 15.0, 30.0, 0.0, 1.0, GRACE)


def join(user: int) -> Join:
    # Social rooms: say the moderators follow the even-numbered users.
    return Join(user, f"user{user}", f"User {user}", followed_by_moderator=user % 2 == 0)


def pick(choices: Sequence[int], index: int) -> int:
    return choices[index % len(choices)]


def any_command(kind: int, a: int, b: int, flag: bool) -> Command:
    """Any command at all, from and to any of the users: most of these are refused."""
    actor, target = pick(USERS, a), pick(USERS, b)
    makers: list[Callable[[], Command]] = [
        lambda: join(actor),
        lambda: Leave(actor),
        lambda: RaiseHand(actor),
        lambda: LowerHand(actor, target if flag else None),
        lambda: InviteToSpeak(actor, target),
        lambda: AcceptInvite(actor),
        lambda: DeclineInvite(actor),
        lambda: MoveToAudience(actor, target),
        lambda: MakeModerator(actor, target),
        lambda: Mute(actor, target),
        lambda: SetMuted(actor, flag),
        lambda: StepDown(actor),
        lambda: AllowUser(actor, target),
        lambda: EndRoom(actor),
        lambda: RevokeModerator(actor, target),
        lambda: RemoveMember(actor, target),
        lambda: SetHandPolicy(actor, ("nobody", "everyone", "followed", "bad")[a % 4]),
        lambda: SetRecording(actor, flag),
        lambda: Tick(),
    ]
    return makers[kind % len(makers)]()


def likely_command(state: RoomState, kind: int, a: int, b: int, flag: bool) -> Command:
    """A command that the rules will probably accept in ``state``, so that rooms get busy."""
    members = state.members.values()
    mods = sorted(m.user_id for m in members if m.role is Role.MODERATOR)
    speakers = sorted(m.user_id for m in members if m.role is Role.SPEAKER)
    listeners = sorted(m.user_id for m in members if m.role is Role.LISTENER)
    on_stage = sorted(m.user_id for m in members if m.role.on_stage)
    invited = sorted(m.user_id for m in members if m.invited_at is not None)
    raised = sorted(m.user_id for m in members if m.hand_raised_at is not None)
    outside = [u for u in USERS if u not in state.members]
    # In a closed or social room, prefer people who would be let in.
    welcome = [u for u in outside
               if state.kind is RoomKind.OPEN or u == state.host_id or u in state.allowed
               or (state.kind is RoomKind.SOCIAL and u % 2 == 0)]

    makers: list[Callable[[], Command]] = []
    if not mods and state.host_id in outside:
        makers += [lambda: join(state.host_id)] * 3  # a room with nobody to run it is dull
    if not mods and state.host_id in listeners:
        makers += [lambda: Leave(state.host_id)] * 3  # ... so the host leaves and comes back
    if outside:
        makers += [lambda: join(pick(welcome or outside, a))] * 2
    if state.members:
        makers.append(lambda: Leave(pick(sorted(state.members), a)))
    if mods:
        mod = pick(mods, a)
        makers.append(lambda: AllowUser(mod, pick(USERS, b)))
        if listeners:
            makers += [lambda: InviteToSpeak(mod, pick(listeners, b))] * 3
        if speakers:
            makers.append(lambda: MakeModerator(mod, pick(speakers, b)))
        if len(mods) > 1:
            makers.append(lambda: RevokeModerator(mod, pick(mods, b)))
        if state.members:
            makers.append(lambda: RemoveMember(mod, pick(sorted(state.members), b)))
        makers.append(lambda: SetHandPolicy(mod, ("nobody", "everyone", "followed")[b % 3]))
        makers.append(lambda: SetRecording(state.host_id, not state.recording))
        if on_stage:
            makers.append(lambda: Mute(mod, pick(on_stage, b)))
            makers.append(lambda: MoveToAudience(mod, pick(on_stage, b)))
        if raised:
            makers.append(lambda: LowerHand(mod, pick(raised, b)))
    if listeners:
        makers += [lambda: RaiseHand(pick(listeners, a))] * 2
    if raised:
        makers.append(lambda: LowerHand(pick(raised, a)))
    if invited:
        makers += [lambda: AcceptInvite(pick(invited, a))] * 3
        makers.append(lambda: DeclineInvite(pick(invited, a)))
    if on_stage:
        makers.append(lambda: SetMuted(pick(on_stage, a), flag))
        makers.append(lambda: StepDown(pick(on_stage, a)))
    makers.append(Tick)
    return makers[kind % len(makers)]()


# One step is one integer, cut into: time step (4 bits), aimed at the current state or not (3),
# which command (6), actor index (6), target index (6), a flag (1). It is interpreted against the
# state when played, so shrinking keeps working; one draw per step keeps generation cheap.
steps = st.lists(st.integers(0, 2**26 - 1), min_size=20, max_size=60)


def decode(bits: int) -> tuple[float, bool, int, int, int, bool]:
    return (TIME_STEPS[bits & 15], (bits >> 4) & 7 != 0, (bits >> 7) & 63, (bits >> 13) & 63,
            (bits >> 19) & 63, bool(bits >> 25))


@dataclass(frozen=True)
class Step:
    before: RoomState
    command: Command
    now: float
    after: RoomState  # ``before`` when the command was refused
    events: list[RoomEvent]
    error: RoomError | None


def random_room(data: st.DataObject) -> Iterator[Step]:
    """Play a random sequence of commands, yielding every step."""
    kind = data.draw(st.sampled_from(RoomKind), label="kind")
    now = 0.0
    state = new_room("room-1", HOST, kind, now, GRACE)
    check_invariants(state)
    for bits in data.draw(steps, label="steps"):
        dt, aim, which, a, b, flag = decode(bits)
        now += dt
        if aim:  # seven times in eight
            command = likely_command(state, which, a, b, flag)
        else:
            command = any_command(which, a, b, flag)
        # Members are frozen, so a shallow copy of the dict is enough to notice any mutation.
        frozen = replace(state, members=dict(state.members))
        try:
            after, events = apply(state, command, now)
        except RoomError as error:
            assert state == frozen, "a refused command changed the state"
            yield Step(state, command, now, state, [], error)
            continue
        assert state == frozen, "apply mutated the state it was given"
        yield Step(state, command, now, after, events, None)
        state = after


def newly_moderator(step: Step, user_id: int) -> bool:
    return (step.after.role_of(user_id) is Role.MODERATOR
            and step.before.role_of(user_id) is not Role.MODERATOR)


@SETTINGS
@given(st.data())
def test_invariants_hold_after_every_step(data: st.DataObject) -> None:
    for step in random_room(data):
        check_invariants(step.after)
        state = step.after
        stage = state.stage
        assert not stage or any(m.role is Role.MODERATOR for m in stage)
        for m in state.members.values():
            assert m.joined_at <= step.now
            assert m.stage_since is None or m.joined_at <= m.stage_since <= step.now
            assert m.hand_raised_at is None or m.hand_raised_at <= step.now
        assert (state.ended_at is None) == state.live
        assert state.audience_count + len(stage) == len(state.members)


@SETTINGS
@given(st.data())
def test_refusals_and_silent_commands_change_nothing(data: st.DataObject) -> None:
    for step in random_room(data):
        if not step.before.live and not isinstance(step.command, Tick):
            assert step.error is not None and step.error.code == "room_ended"
        if step.error is not None:
            assert step.error.code and step.error.message
        elif not step.events:
            # Every change to a room is announced: a command without events is a no-op.
            assert step.after == step.before


@SETTINGS
@given(st.data())
def test_only_unmuted_people_on_stage_are_heard(data: st.DataObject) -> None:
    for step in random_room(data):
        heard = step.after.heard
        for user_id, m in step.after.members.items():
            on_stage = m.role in (Role.SPEAKER, Role.MODERATOR)
            assert (user_id in heard) == (on_stage and not m.muted)
        assert heard <= set(step.after.members)


@SETTINGS
@given(st.data())
def test_only_listeners_have_raised_hands(data: st.DataObject) -> None:
    for step in random_room(data):
        queue = step.after.hand_queue
        assert all(m.role is Role.LISTENER for m in queue)
        times = [(m.hand_raised_at, m.user_id) for m in queue]
        assert times == sorted(times)
        if isinstance(step.command, RaiseHand) and step.error is None:
            assert step.before.role_of(step.command.actor) is Role.LISTENER
            assert step.after.member(step.command.actor).hand_raised_at is not None  # type: ignore[union-attr]


@SETTINGS
@given(st.data())
def test_events_are_private_exactly_when_they_concern_the_hand_queue_or_invitations(
    data: st.DataObject,
) -> None:
    for step in random_room(data):
        for event in step.events:
            assert event.private == (event.type in PRIVATE_TYPES), event
            if event.private:
                assert event.subject is not None
                assert event.data["user_id"] == event.subject
        for viewer in USERS:
            hands = snapshot(step.after, viewer)["hands"]
            assert (hands is not None) == (step.after.role_of(viewer) is Role.MODERATOR)


@settings(SETTINGS, max_examples=150)
@given(st.data())
def test_snapshot_plus_events_equals_fresh_snapshot(data: st.DataObject) -> None:
    """Zulip-style: a client that applies its events ends up where a fresh snapshot would."""
    for step in random_room(data):
        for viewer in USERS:
            if step.before.member(viewer) is None:
                continue  # not connected to this room: receives nothing, joins with a snapshot
            if newly_moderator(step, viewer):
                # A new moderator never saw the private hand events, so the server sends them a
                # fresh snapshot (with the hand queue) instead of relying on events.
                continue
            events = delivered(step.events, viewer, step.after.moderator_ids)
            rebuilt = apply_events(snapshot(step.before, viewer), events, viewer)
            assert rebuilt == snapshot(step.after, viewer), (viewer, step.command, events)


def test_random_rooms_reach_interesting_states() -> None:
    """Guard against a generator that never fills the stage (the properties would be vacuous)."""
    seen: set[str] = set()

    @settings(max_examples=80, deadline=None, database=None, derandomize=True)
    @given(st.data())
    def explore(data: st.DataObject) -> None:
        for step in random_room(data):
            seen.update(event.type.value for event in step.events)
            seen.add(f"{step.after.kind.value}_room")
            if step.error is not None:
                seen.add(f"refused:{step.error.code}")
            if len(step.after.stage) >= 3:
                seen.add("busy_stage")
            if len(step.after.hand_queue) >= 2:
                seen.add("hand_queue")
            if isinstance(step.command, Leave) and any(
                newly_moderator(step, u) for u in step.after.members
            ):
                seen.add("succession")

    explore()
    wanted = {e.value for e in EventType} | {
        "open_room", "closed_room", "busy_stage", "hand_queue", "succession",
        "refused:forbidden", "refused:not_in_room", "refused:room_ended", "refused:not_invited",
    }
    assert wanted <= seen, sorted(wanted - seen)
