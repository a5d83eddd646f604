"""The fan-out loop itself, compiled and in Python: real libsrtp, real sockets (socket pairs)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pylibsrtp import Policy, Session

from podium.media import fanout
from podium.media.fanout import HEADER, Audience, Sendable, SendTable, fan_out, skip_sequence

KEY = bytes(range(30))


def session(direction: int) -> Session:
    profile = Policy.SRTP_PROFILE_AES128_CM_SHA1_80
    return Session(Policy(key=KEY, ssrc_type=direction, srtp_profile=profile))


@pytest.fixture(params=["compiled", "python"])
def loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python":
        monkeypatch.setattr(fanout, "COMPILED", False)
    else:
        assert fanout.COMPILED, "the compiled loop must be built for the tests"
    return str(request.param)


class Receiver:
    """The far end of one listener: a socket and an inbound SRTP session."""

    def __init__(self, table: SendTable, ssrc: int, seq: int, relay: bool = False) -> None:
        self.near, self.far = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.far.setblocking(False)
        self.srtp = session(Policy.SSRC_ANY_INBOUND)
        self.lis = Sendable(
            table, session(Policy.SSRC_ANY_OUTBOUND), self.near.send,
            -1 if relay else self.near.fileno(), ssrc, 111, seq,
        )  # fmt: skip

    def packets(self) -> list[tuple[int, int, int, int, bytes]]:
        """(pt, seq, ts, ssrc, payload) of everything received so far."""
        out = []
        while True:
            try:
                data = self.far.recv(2048)
            except BlockingIOError:
                return out
            plain = self.srtp.unprotect(data)
            _, pt, seq, ts, ssrc = HEADER.unpack_from(plain)
            out.append((pt, seq, ts, ssrc, plain[12:]))

    def close(self) -> None:
        self.lis.close()
        self.near.close()
        self.far.close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    table = SendTable(2)  # small: the table has to grow for three
    made = [Receiver(table, 1000 + i, 65534 + i) for i in range(3)]
    yield made
    for r in made:
        r.close()


def test_every_listener_gets_the_payload_with_its_own_header(
    loop: str, receivers: list[Receiver]
) -> None:
    audience = Audience()
    for r in receivers:
        audience.add(r.lis)
    table = receivers[0].lis.table
    assert fan_out(audience, table, b"first", 960) == 3
    assert fan_out(audience, table, b"second", 1920) == 3
    for i, r in enumerate(receivers):
        first, second = (65534 + i) & 0xFFFF, (65535 + i) & 0xFFFF
        assert r.packets() == [
            (111, first, 960, 1000 + i, b"first"),
            (111, second, 1920, 1000 + i, b"second"),
        ]
        assert r.lis.packets == 2 and r.lis.octets == 11 and r.lis.last_pos == 1920


def test_positions_before_min_pos_are_skipped_and_gaps_are_left_out(
    loop: str, receivers: list[Receiver]
) -> None:
    a, b, _ = receivers
    audience = Audience()
    audience.add(a.lis)
    audience.add(b.lis)
    b.lis.min_pos = 1920  # e.g. just demoted: its mix-minus already covered 960
    assert fan_out(audience, a.lis.table, b"x", 960) == 1
    skip_sequence(audience)  # a packet lost on the way in
    assert fan_out(audience, a.lis.table, b"y", 2880) == 2
    assert [(p[1], p[2]) for p in a.packets()] == [(65534, 960), (0, 2880)]
    assert [(p[1], p[2]) for p in b.packets()] == [(0, 2880)]
    audience.discard(b.lis)
    assert len(audience) == 1 and b.lis not in audience
    b.lis.send(b"minus", 3840)  # the single send of a mix-minus
    assert [p[4] for p in b.packets()] == [b"minus"]


def test_a_closed_listener_frees_its_row_for_the_next(receivers: list[Receiver]) -> None:
    lis = receivers[2].lis
    slot, fd = lis.slot, lis.fd
    lis.close()
    assert lis.slot == -1 and lis.fd == -1
    with pytest.raises(OSError):
        socket.socket(fileno=fd).close()  # the duplicate is closed
    again = Sendable(lis.table, session(Policy.SSRC_ANY_OUTBOUND), lambda p: None, -1, 7, 111, 1)
    assert again.slot == slot and again.fd == -1 and again.seq == 1 and again.packets == 0
    again.close()


def test_a_listener_without_a_socket_for_the_loop_is_sent_to_in_python(
    loop: str, receivers: list[Receiver]
) -> None:
    """A TURN-relayed listener has no socket of its own: the compiled loop skips its row and
    the same packet goes out through its transport's send."""
    table = receivers[0].lis.table
    relayed = Receiver(table, 2000, 7, relay=True)
    try:
        assert relayed.lis.fd == -1
        audience = Audience()
        audience.add(receivers[0].lis)
        audience.add(relayed.lis)
        assert fan_out(audience, table, b"both", 960) == 2
        assert relayed.packets() == [(111, 7, 960, 2000, b"both")]
        assert [p[4] for p in receivers[0].packets()] == [b"both"]
        relayed.lis.send(b"minus", 1920)
        assert relayed.packets() == [(111, 8, 1920, 2000, b"minus")]
    finally:
        relayed.close()


def test_oversized_payloads_are_not_sent(loop: str, receivers: list[Receiver]) -> None:
    audience = Audience()
    audience.add(receivers[0].lis)
    assert fan_out(audience, receivers[0].lis.table, bytes(1400), 960) == 0
    assert receivers[0].packets() == []
