"""The pure rules for social rooms and pings (no server, no database)."""

from __future__ import annotations

import pytest

from podium.domain.commands import Join, Ping, RoomError
from podium.domain.roles import RoomKind, may_join, may_ping
from podium.domain.room import apply, new_room
from podium.domain.state import RoomState

HOST, BOB, CAROL = 1, 2, 3


def live(kind: RoomKind) -> RoomState:
    state, _ = apply(new_room("r", HOST, kind, 0.0, 60.0), Join(HOST, "host", "Host"), 1.0)
    state, _ = apply(state, Join(BOB, "bob", "Bob", followed_by_moderator=True), 2.0) if (
        kind is not RoomKind.CLOSED) else (state, [])
    return state


def test_may_join_by_kind() -> None:
    for followed in (False, True):
        assert may_join(RoomKind.OPEN, 5, HOST, frozenset(), followed)
        assert may_join(RoomKind.SOCIAL, 5, HOST, frozenset(), followed) is followed
        assert not may_join(RoomKind.CLOSED, 5, HOST, frozenset(), followed)
        for kind in (RoomKind.SOCIAL, RoomKind.CLOSED):
            assert may_join(kind, 5, HOST, frozenset({5}), followed)
            assert may_join(kind, HOST, HOST, frozenset(), followed)


def test_may_ping() -> None:
    assert may_ping(RoomKind.CLOSED, True, False)
    assert not may_ping(RoomKind.CLOSED, False, True)
    assert may_ping(RoomKind.SOCIAL, False, True) and may_ping(RoomKind.OPEN, False, True)
    assert not may_ping(RoomKind.OPEN, False, False)


def test_social_join_refusal_names_the_type() -> None:
    with pytest.raises(RoomError) as refused:
        apply(live(RoomKind.SOCIAL), Join(CAROL, "carol", "Carol"), 3.0)
    assert refused.value.code == "not_invited" and "social" in refused.value.message


@pytest.mark.parametrize("kind", list(RoomKind))
def test_a_ping_lets_in_where_it_must(kind: RoomKind) -> None:
    state = live(kind)
    after, events = apply(state, Ping(HOST, CAROL), 3.0)
    if kind is RoomKind.OPEN:
        assert events == [] and CAROL not in after.allowed
    else:
        assert CAROL in after.allowed and events[0].private and events[0].subject == CAROL
    apply(after, Join(CAROL, "carol", "Carol"), 4.0)  # and now Carol may come in


def test_ping_refusals() -> None:
    state = live(RoomKind.SOCIAL)
    for command, code in [(Ping(BOB, CAROL), "forbidden"), (Ping(HOST, BOB), "already_in_room"),
                          (Ping(HOST, HOST), "invalid_target"), (Ping(CAROL, BOB), "not_in_room")]:
        with pytest.raises(RoomError) as refused:
            apply(state, command, 3.0)
        assert refused.value.code == code
    apply(state, Ping(BOB, CAROL, target_follows_actor=True), 3.0)  # a follower: fine
