"""Replication: a replica that applies the JSON-encoded commands from a JSON checkpoint ends in
exactly the state of the node that ran them (what several nodes sharing a room rely on)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from podium.domain.codec import (
    CodecError,
    decode_command,
    decode_state,
    encode_command,
    encode_state,
)
from podium.domain.commands import RoomError
from podium.domain.room import apply

from .test_room_properties import SETTINGS, random_room


def _wire(value: object) -> object:
    return json.loads(json.dumps(value))


@SETTINGS
@given(st.data(), st.integers(0, 59))
def test_a_replica_from_any_checkpoint_reaches_the_same_state(data: st.DataObject,
                                                              cut: int) -> None:
    steps = list(random_room(data))
    cut = min(cut, len(steps) - 1)
    replica = decode_state(_wire(encode_state(steps[cut].before)))  # type: ignore[arg-type]
    assert replica == steps[cut].before
    for step in steps[cut:]:
        command = decode_command(_wire(encode_command(step.command)))  # type: ignore[arg-type]
        assert command == step.command
        try:
            replica, _ = apply(replica, command, step.now)
        except RoomError:
            assert step.error is not None  # refused on the replica exactly when refused there
        assert replica == step.after


@pytest.mark.parametrize("bad", [{"t": "Explode"}, {"t": "Leave"}, {"t": "Leave", "x": 1}, {}])
def test_unknown_or_malformed_commands_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(CodecError):
        decode_command(bad)


def test_a_malformed_state_is_refused() -> None:
    with pytest.raises(CodecError):
        decode_state({"room_id": "r"})
