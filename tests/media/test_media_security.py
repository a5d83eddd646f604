"""Media-plane abuse (issue #18): stage changes racing a connect, SSRC floods, ICE candidates
an attacker names in an offer. Real aiortc peers on loopback (127.0.0.0/8 only)."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pylibsrtp
import pytest
from aioice import stun
from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket, RtpPacket

from podium.config import Settings
from podium.media import ice, offer
from podium.media.analysis import dominant_frequency, tone_present
from podium.media.embedded import EmbeddedEngine
from podium.media.engine import EngineStats, MediaEngineError, SessionDescription
from podium.media.fastpath import payload_type
from podium.media.host import PeerHost
from podium.media.peer import ClientPeer

from .conftest import LOOPBACK, ROOM, Join, record_more, tail, wait_until

pytestmark = pytest.mark.media

SSRC_CAP = 4  # host.MAX_SSRCS_PER_PEER: a peer's SSRCs (RTP and RTCP) the server keeps state for
CANDIDATE_CAP = 32  # offer.MAX_CANDIDATES


def hears(peer: ClientPeer, freq: float) -> bool:
    return tone_present(tail(peer), freq)


@pytest.fixture
async def clients() -> AsyncIterator[list[ClientPeer]]:
    """Client peers made by a test itself; closed at the end."""
    made: list[ClientPeer] = []
    yield made
    for peer in made:
        await peer.close()


# -- item 3: the heard set changing while a peer connects ------------------------------------


async def connect_during(
    engine: EmbeddedEngine,
    user_id: int,
    change: Callable[[], Awaitable[None]],
    clients: list[ClientPeer],
) -> ClientPeer:
    """Connect ``user_id`` with ``change`` (a stage change) landing while the engine awaits the
    peer's host: what happens when an ``rtc_offer`` and an accepted invitation cross."""
    pool: Any = engine.pool
    original = pool.connect
    arrived, release = asyncio.Event(), asyncio.Event()

    async def held(*args: Any) -> str:
        answer = str(await original(*args))
        arrived.set()
        await release.wait()
        return answer

    pool.connect = held
    try:
        client = ClientPeer(ice_hosts=LOOPBACK)
        clients.append(client)
        task = asyncio.create_task(engine.connect(ROOM, user_id, await client.create_offer()))
        async with asyncio.timeout(10):
            await arrived.wait()
        await change()
        release.set()
        answer = await task
    finally:
        del pool.connect  # the class's method again
    await client.accept_answer(answer)
    await client.wait_connected(5.0)
    return client


class TestHeardSetChangingDuringConnect:
    """In the server process and in a worker process."""

    @pytest.fixture(params=[0, 1], ids=["in-process", "worker"])
    def settings(self, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
        return Settings(
            ice_hosts=LOOPBACK, stun_urls=[], turn_urls=[], secret_key="test",
            data_dir=tmp_path, media_workers=request.param,
        )  # fmt: skip

    async def test_a_speaker_promoted_while_connecting_is_heard(
        self, engine: EmbeddedEngine, join: Join, tones: dict[int, str], clients: list[ClientPeer]
    ) -> None:
        listener = await join(2)
        promote = lambda: engine.set_heard(ROOM, frozenset({1}))  # noqa: E731
        speaker = await connect_during(engine, 1, promote, clients)
        speaker.play_file(tones[440])
        await wait_until(lambda: hears(listener, 440), what="the promoted speaker at the listener")
        await record_more(listener, 0.5)
        assert abs(dominant_frequency(tail(listener, 0.5)) - 440) <= 5

    async def test_a_speaker_demoted_while_connecting_hears_the_stage(
        self, engine: EmbeddedEngine, join: Join, tones: dict[int, str], clients: list[ClientPeer]
    ) -> None:
        speaker = await join(2)
        await engine.set_heard(ROOM, frozenset({1, 2}))
        speaker.play_file(tones[440])
        demote = lambda: engine.set_heard(ROOM, frozenset({2}))  # noqa: E731
        demoted = await connect_during(engine, 1, demote, clients)
        demoted.play_file(tones[880])  # no longer on stage: must reach nobody
        await wait_until(lambda: hears(demoted, 440), what="the stage at the demoted user")
        await record_more(demoted, 0.5)
        await record_more(speaker, 0.5)
        assert abs(dominant_frequency(tail(demoted, 0.5)) - 440) <= 5
        assert not hears(speaker, 880)


# -- item 5: RTP and RTCP on ever new SSRCs --------------------------------------------------


def rx_packets(dtls: Any) -> int:
    return int(dtls._RTCDtlsTransport__rx_packets)


async def flood(client: ClientPeer, server_dtls: Any, ssrcs: list[int], rtcp: bool) -> None:
    """Send SRTP (valid: the client's own keys) on each of ``ssrcs``, in batches the server is
    seen to have read (a UDP socket buffer would drop a bigger burst unread)."""
    dtls = client._pc.getTransceivers()[0].sender.transport
    session, send = dtls._tx_srtp, dtls.transport._send
    pt = payload_type(client._pc.getTransceivers()[0]._codecs)
    for start in range(0, len(ssrcs), 50):
        batch = ssrcs[start : start + 50]
        before = rx_packets(server_dtls)
        for n, ssrc in enumerate(batch):
            if rtcp:
                info = RtcpSenderInfo(ntp_timestamp=n, rtp_timestamp=n, packet_count=1,
                                      octet_count=3)  # fmt: skip
                data = session.protect_rtcp(bytes(RtcpSrPacket(ssrc=ssrc, sender_info=info)))
            else:
                packet = RtpPacket(payload_type=pt, sequence_number=n, timestamp=n * 960,
                                   ssrc=ssrc, payload=b"\xf8\xff\xfe")  # fmt: skip
                data = session.protect(packet.serialize())
            session.remove_stream(ssrc)  # the attacker's own libsrtp stays small
            await send(data)
        target = before + len(batch)
        await wait_until(lambda t=target: rx_packets(server_dtls) >= t, what="the batch read")


async def test_rtp_and_rtcp_on_new_ssrcs_create_no_state(
    engine: EmbeddedEngine, join: Join, tones: dict[int, str]
) -> None:
    speaker, listener, attacker = await join(1), await join(2), await join(3)
    await engine.set_heard(ROOM, frozenset({1}))
    speaker.play_file(tones[440])
    host = engine.pool
    assert isinstance(host, PeerHost)
    peer = host._rooms[ROOM].peers[3]
    receiver = peer.pc.getTransceivers()[0].receiver
    dtls = receiver.transport
    await wait_until(lambda: dtls._rx_srtp is not None, what="SRTP keys at the server")
    rtp_ssrcs = random.sample(range(1, 2**32), 1500)
    rtcp_ssrcs = random.sample(range(1, 2**32), 500)
    await flood(attacker, dtls, rtp_ssrcs, rtcp=False)  # as a listener
    # A listener's RTCP is dropped on arrival (fastpath.drop_listener_rtcp); a speaker's is read.
    await engine.set_heard(ROOM, frozenset({1, 3}))
    await flood(attacker, dtls, rtcp_ssrcs, rtcp=True)
    assert len(receiver._RTCRtpReceiver__remote_streams) <= SSRC_CAP
    assert len(dtls._rtp_router.ssrc_table) <= SSRC_CAP
    for ssrc in rtp_ssrcs[-20:] + rtcp_ssrcs[-20:]:  # libsrtp made no stream for them
        with pytest.raises(pylibsrtp.Error):
            dtls._rx_srtp.remove_stream(ssrc)
    # The room is unharmed: the speaker is still heard.
    await record_more(listener, 0.5)
    assert abs(dominant_frequency(tail(listener, 0.5)) - 440) <= 5


# -- item 7: ICE candidates named by an offer --------------------------------------------------


@pytest.fixture
def udp_sockets() -> Iterator[Callable[[str], socket.socket]]:
    """``bind(host)``: a UDP socket on ``host`` (any 127.x address in the test namespace)."""
    made: list[socket.socket] = []

    def bind(host: str) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        sock.setblocking(False)
        made.append(sock)
        return sock

    yield bind
    for sock in made:
        sock.close()


def with_candidates(sdp: str, candidates: list[str]) -> str:
    """The SDP with its own ``a=candidate`` lines replaced by ``candidates``."""
    lines = [line for line in sdp.split("\r\n") if line and not line.startswith("a=candidate:")]
    return "\r\n".join(lines + candidates) + "\r\n"


def candidate(n: int, host: str, port: int, priority: int, transport: str = "udp") -> str:
    return f"a=candidate:f{n} 1 {transport} {priority} {host} {port} typ host"


def received(sock: socket.socket) -> list[bytes]:
    packets = []
    while True:
        try:
            packets.append(sock.recv(2048))
        except BlockingIOError:
            return packets


async def next_datagram(sock: socket.socket, within: float = 10.0) -> bytes:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(within):
        return await loop.sock_recv(sock, 2048)


def is_binding_request(data: bytes) -> bool:
    message = stun.parse_message(data)
    return message.message_method == stun.Method.BINDING and (
        message.message_class == stun.Class.REQUEST
    )


async def test_offer_with_too_many_candidates_is_refused(
    engine: EmbeddedEngine, clients: list[ClientPeer]
) -> None:
    client = ClientPeer(ice_hosts=LOOPBACK)
    clients.append(client)
    sdp = (await client.create_offer()).sdp
    extra = [candidate(n, f"127.0.1.{n}", 9, 100 + n) for n in range(1, CANDIDATE_CAP + 1)]
    crowded = with_candidates(sdp, extra)  # 32 of ours + none of the client's: still fine
    assert len(crowded) < offer.MAX_SDP_BYTES
    too_many = with_candidates(sdp, [*extra, candidate(99, "127.0.1.99", 9, 1)])
    with pytest.raises(MediaEngineError, match="ICE candidates"):
        await engine.connect(ROOM, 1, SessionDescription(sdp=too_many, type="offer"))
    assert engine.stats() == EngineStats(0, 0, 0)
    await engine.connect(ROOM, 1, SessionDescription(sdp=crowded, type="offer"))


@pytest.fixture
def restricted(tmp_path: Path) -> Settings:
    """Checks may go to 127.0.0.1 only (the other 127.x addresses stand for the internet)."""
    return Settings(
        ice_hosts=LOOPBACK, stun_urls=[], turn_urls=[], secret_key="test", data_dir=tmp_path,
        media_workers=0, ice_remote_networks=["127.0.0.1/32"],
    )  # fmt: skip


@pytest.fixture
async def restricted_engine(restricted: Settings) -> AsyncIterator[EmbeddedEngine]:
    eng = EmbeddedEngine(restricted)
    await eng.start()
    yield eng
    await eng.close()


async def test_no_stun_check_goes_outside_the_allowed_networks(
    restricted_engine: EmbeddedEngine,
    udp_sockets: Callable[[str], socket.socket],
    clients: list[ClientPeer],
) -> None:
    client = ClientPeer(ice_hosts=LOOPBACK)  # its answer is never given back: nobody replies
    clients.append(client)
    forbidden = [udp_sockets(f"127.0.0.{n}") for n in range(2, 22)]
    decoy = udp_sockets("127.0.0.1")  # allowed, and the lowest priority: checked last
    lines = [candidate(n, *s.getsockname(), 1000 + n) for n, s in enumerate(forbidden)]
    lines += [
        candidate(90, "attacker.example.com", 9, 900),  # DNS
        candidate(91, "0f3c4e1a-0b6c-4f1e-9d2a-4c5b6a7d8e9f.local", 9, 901),  # mDNS
        candidate(92, "127.0.0.1", 9, 902, transport="tcp"),
        candidate(93, *decoy.getsockname(), 10),
    ]
    sdp = with_candidates((await client.create_offer()).sdp, lines)
    await restricted_engine.connect(ROOM, 1, SessionDescription(sdp=sdp, type="offer"))
    # aioice checks pairs in priority order, one every 20 ms: once the decoy (last) has its
    # check, every forbidden address would have had one.
    assert is_binding_request(await next_datagram(decoy))
    assert {s.getsockname()[0]: received(s) for s in forbidden} == {
        s.getsockname()[0]: [] for s in forbidden
    }
    host = restricted_engine.pool
    assert isinstance(host, PeerHost)
    pc = host._rooms[ROOM].peers[1].pc
    remote = pc.getTransceivers()[0].receiver.transport.transport.getRemoteCandidates()
    assert [(c.ip, c.port, c.protocol) for c in remote] == [(*decoy.getsockname(), "udp")]


def ice_credentials(sdp: str) -> tuple[str, str]:
    values = dict(line[2:].split(":", 1) for line in sdp.split("\r\n") if line.startswith("a=ice-"))
    return values["ice-ufrag"], values["ice-pwd"]


def server_address(sdp: str) -> tuple[str, int]:
    line = next(x for x in sdp.split("\r\n") if x.startswith("a=candidate:"))
    fields = line.split()
    return fields[4], int(fields[5])


async def test_checks_from_outside_the_allowed_networks_are_ignored(
    restricted_engine: EmbeddedEngine,
    udp_sockets: Callable[[str], socket.socket],
    clients: list[ClientPeer],
) -> None:
    """A peer-reflexive address (the source of an authenticated check) is held to the same
    networks: no answer to it, and no check of ours goes there."""
    client = ClientPeer(ice_hosts=LOOPBACK)
    clients.append(client)
    local = await client.create_offer()
    answer = await restricted_engine.connect(ROOM, 1, local)
    server_ufrag, server_pwd = ice_credentials(answer.sdp)
    client_ufrag, _ = ice_credentials(local.sdp)

    def check() -> bytes:
        request = stun.Message(message_method=stun.Method.BINDING,
                               message_class=stun.Class.REQUEST)  # fmt: skip
        request.attributes["USERNAME"] = f"{server_ufrag}:{client_ufrag}"
        request.attributes["PRIORITY"] = 1_000_000
        request.attributes["ICE-CONTROLLING"] = 1
        request.add_message_integrity(server_pwd.encode())
        request.add_fingerprint()
        return bytes(request)

    outside, inside = udp_sockets("127.0.0.9"), udp_sockets("127.0.0.1")
    target = server_address(answer.sdp)
    outside.sendto(check(), target)
    inside.sendto(check(), target)  # read after the first by the same server socket
    reply = stun.parse_message(await next_datagram(inside))
    assert reply.message_class == stun.Class.RESPONSE
    assert received(outside) == []


def test_candidates_are_filtered_by_address() -> None:
    private = ice.RemoteAddresses(networks=(), loopback=False)
    # Addresses are only classified here: nothing is sent to any of them.
    for host in ("93.184.216.34", "10.1.2.3", "192.168.1.20", "100.64.0.7", "2001:db8::1",
                 "fd00::2"):
        assert private.allows(host), host
    for host in ("127.0.0.1", "::1", "169.254.1.1", "fe80::1", "224.0.0.251", "ff02::1",
                 "0.0.0.0", "0.1.2.3", "::", "240.0.0.1", "255.255.255.255",
                 "::ffff:127.0.0.1", "example.com", "x.local", "1.2.3.4.5"):  # fmt: skip
        assert not private.allows(host), host
    assert ice.RemoteAddresses(networks=(), loopback=True).allows("127.0.0.5")
    only = ice.RemoteAddresses(networks=("10.0.0.0/8", "127.0.0.0/8", "0.0.0.0/0"),
                               loopback=False)  # fmt: skip
    assert only.allows("10.9.9.9") and only.allows("127.0.0.3") and only.allows("93.184.216.34")
    assert not only.allows("169.254.1.1")  # 0.0.0.0/0 does not name link-local
    assert not ice.RemoteAddresses(networks=("10.0.0.0/8",), loopback=True).allows("127.0.0.1")


def test_remote_networks_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PODIUM_ICE_REMOTE_NETWORKS", "10.0.0.0/8, 2001:db8::/32")
    settings = Settings(secret_key="test", data_dir=tmp_path)
    assert settings.ice_remote_networks == ["10.0.0.0/8", "2001:db8::/32"]
    monkeypatch.setenv("PODIUM_ICE_REMOTE_NETWORKS", "10.0.0.0/33")
    with pytest.raises(ValueError, match="10.0.0.0/33"):
        Settings(secret_key="test", data_dir=tmp_path)
