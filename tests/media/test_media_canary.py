"""Canaries for the aiortc/aioice internals the fast path borrows (see podium.media.fastpath).

If one of these fails after an upgrade, the fast path is broken: read fastpath's docstring,
re-check each borrowed attribute against the new aiortc/aioice source, then re-pin.
"""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import inspect
import os
import socket
import types
from importlib.metadata import version
from typing import Any

import aioice.ice
import aiortc.sdp
import pytest
from aiortc import RTCDtlsTransport, RTCRtpReceiver, RTCRtpSender
from aiortc.rtp import RtcpByePacket
from pylibsrtp import Session

from podium.media import fanout, fastpath
from podium.media.embedded import EmbeddedEngine
from podium.media.fanout import SendTable
from podium.media.fastpath import take_over
from podium.media.host import PeerHost

from .conftest import ROOM, Join, wait_until

pytestmark = pytest.mark.media


def test_pinned_versions() -> None:
    assert version("aiortc") == "1.16.0"
    assert version("aioice") == "0.13.0"


def test_sender_rtcp_loop_is_what_the_fast_path_parks() -> None:
    # fastpath.park_sender_reports parks aiortc's RTCP loop in its first self._send_rtcp;
    # sender.stop() cancels that task, whose BYE then goes through self._send_rtcp too.
    source = inspect.getsource(RTCRtpSender._run_rtcp)
    assert "await self._send_rtcp(packets)" in source
    assert "except asyncio.CancelledError:" in source and "RtcpByePacket(" in source
    assert "self.__rtcp_task.cancel()" in inspect.getsource(RTCRtpSender.stop)
    assert "self.__cname = parameters.rtcp.cname" in inspect.getsource(RTCRtpSender.send)
    # aiortc's RTP loop must wait on the track, which (SilentTrack) never yields.
    assert "_next_encoded_frame" in inspect.getsource(RTCRtpSender._run_rtp)


def test_dtls_transport_protects_with_tx_srtp() -> None:
    assert "self._tx_srtp.protect(data)" in inspect.getsource(RTCDtlsTransport._send_rtp)
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)


async def taken_over(engine: EmbeddedEngine, join: Join) -> Any:
    """User 1 joined and on the fast path: their ``PeerHost`` peer."""
    await join(1)
    host = engine.pool
    assert isinstance(host, PeerHost)
    peer = host._rooms[ROOM].peers[1]
    await wait_until(lambda: peer.listener is not None, what="fast path taken over")
    return peer


async def test_connected_peer_exposes_what_the_fast_path_takes(
    engine: EmbeddedEngine, join: Join
) -> None:
    peer = await taken_over(engine, join)
    sender = peer.pc.getTransceivers()[0].sender
    dtls = sender.transport
    assert isinstance(dtls._tx_srtp, Session)
    pair = dtls.transport._connection._nominated[1]
    assert isinstance(pair.protocol.transport._sock, socket.socket)
    assert isinstance(pair.remote_addr, tuple)
    assert isinstance(sender._ssrc, int)
    assert isinstance(sender._RTCRtpSender__cname, str)
    assert any(c.mimeType.lower() == "audio/opus" for c in peer.pc.getTransceivers()[0]._codecs)
    listener = take_over(peer.pc, 1, 0, SendTable())  # what the host did: must work here
    assert listener.ssrc == sender._ssrc and listener.pt in range(96, 128)
    sock = pair.protocol.transport._sock
    assert listener.send_packet == sock.send  # the raw socket, not asyncio
    assert sock.getpeername() == pair.remote_addr  # connected to the nominated remote
    assert listener.srtp is not None  # libsrtp called directly (see test_direct_srtp...)
    # The compiled loop sends on its own duplicate of that socket.
    assert listener.fd >= 0 and listener.fd != sock.fileno()
    assert os.path.samestat(os.fstat(listener.fd), os.fstat(sock.fileno()))
    listener.close()
    assert listener.fd == -1
    assert "datagram_received" in vars(pair.protocol)  # listener RTCP dropped on arrival
    assert "_send_rtcp" in vars(sender)  # aiortc's RTCP loop parked: the host sends SRs


async def test_receiver_reports_run_only_while_heard(engine: EmbeddedEngine, join: Join) -> None:
    # aiortc's stop() cancels the (maybe restarted) task and waits on an event a cancelled
    # loop has already set: both must stay true for receiver_reports to be safe.
    source = inspect.getsource(RTCRtpReceiver.stop)
    assert "self.__rtcp_task.cancel()" in source and "self.__rtcp_exited.wait()" in source
    peer = await taken_over(engine, join)
    receiver = peer.pc.getTransceivers()[0].receiver

    def reporting() -> bool:
        task = receiver._RTCRtpReceiver__rtcp_task  # type: ignore[attr-defined]
        return task is not None and not task.done()

    await wait_until(lambda: not reporting(), what="a listener's report loop stopped")
    await engine.set_heard(ROOM, frozenset({1}))
    assert reporting()
    await engine.set_heard(ROOM, frozenset())
    await wait_until(lambda: not reporting(), what="stopped again")


def test_pinned_pylibsrtp_and_direct_protect() -> None:
    # fastpath calls libsrtp's srtp_protect on Session._srtp[0] through pylibsrtp's cffi lib;
    # at import it checks that this gives the same bytes as Session.protect.
    import pylibsrtp._binding

    assert version("pylibsrtp") == "1.0.0"
    # (a method's source, not the class's: that one goes through ast.parse, which on 3.11.7
    # can fail when the cyclic GC runs finalizers in the middle of it)
    process = Session._Session__process  # type: ignore[attr-defined]
    assert "func(self._srtp[0], self._cdata, len_p)" in inspect.getsource(process)
    assert hasattr(pylibsrtp._binding.lib, "srtp_protect")
    assert fanout.DIRECT_SRTP


def test_the_compiled_fan_out_loop_is_built_and_sends_what_libsrtp_makes() -> None:
    # ``pip install`` builds podium.media._fanout (setup.py; gcc is installed by the scripts).
    # At import, fanout checks it against Session.protect on a socket pair (COMPILED).
    assert fanout._fanout is not None, "podium.media._fanout was not built"
    assert fanout.PROTECT_ADDR and fanout.COMPILED

def test_datagrams_go_through_what_the_fast_path_wraps() -> None:
    # asyncio's datagram transport looks datagram_received up on the protocol per datagram,
    # and aioice hands everything that is not STUN to the connection (RTP and RTCP alike).
    assert "self._protocol.datagram_received(" in inspect.getsource(
        asyncio.selector_events._SelectorDatagramTransport._read_ready
    )
    assert "self.receiver.data_received(" in inspect.getsource(
        aioice.ice.StunProtocol.datagram_received
    )


async def test_listener_rtcp_dropped_and_aiortc_sender_reports_parked() -> None:
    seen: list[bytes] = []

    class Protocol:
        def datagram_received(self, data: bytes, addr: object) -> None:
            seen.append(data)

    class Sender:
        def __init__(self) -> None:
            self.sent: list[list[object]] = []

        async def _send_rtcp(self, packets: list[object]) -> None:
            self.sent.append(packets)

    listener = types.SimpleNamespace(heard=False)
    protocol = Protocol()
    fastpath.drop_listener_rtcp(protocol, listener)  # type: ignore[arg-type]
    rtcp, rtp, stun = bytes([0x81, 201, 0, 1]), bytes([0x80, 111, 0, 1]), bytes([0, 1, 0, 0])
    for data in (rtcp, rtp, stun, b""):
        protocol.datagram_received(data, ("127.0.0.1", 1))
    assert seen == [rtp, stun, b""]
    listener.heard = True  # a heard speaker's reports are kept
    protocol.datagram_received(rtcp, ("127.0.0.1", 1))
    assert seen[-1] == rtcp

    sender = Sender()
    fastpath.park_sender_reports(sender)  # type: ignore[arg-type]
    parked = asyncio.ensure_future(sender._send_rtcp(["sr"]))
    await asyncio.sleep(0.01)
    assert not parked.done() and sender.sent == []  # aiortc's loop waits here for good
    await sender._podium_send_rtcp(["ours"])  # type: ignore[attr-defined]
    assert sender.sent == [["ours"]]
    parked.cancel()  # what sender.stop() does; then aiortc says goodbye
    bye = RtcpByePacket(sources=[1])
    await sender._send_rtcp([bye])
    assert sender.sent[-1] == [bye]


def test_receiver_rtp_handler_is_what_the_uplink_hook_replaces() -> None:
    # podium.media.host.hook_uplink replaces RTCRtpReceiver._handle_rtp_packet per instance
    # (the DTLS transport looks it up per packet) and keeps feeding the per-SSRC statistics
    # that aiortc's RTCP task turns into receiver reports.
    handler = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__remote_streams[packet.ssrc] = StreamStatistics(" in handler
    assert "self.__jitter_buffer.add(packet)" in handler
    assert "self.__remote_streams" in inspect.getsource(RTCRtpReceiver._run_rtcp)
    assert "receiver._handle_rtp_packet(" in inspect.getsource(RTCDtlsTransport._handle_rtp_data)


async def test_uplink_bypasses_aiortc_jitter_buffer_and_feeds_receiver_reports(
    engine: EmbeddedEngine, join: Join, tones: dict[int, str]
) -> None:
    speaker = await join(1)
    await engine.set_heard(ROOM, frozenset({1}))
    speaker.play_file(tones[440])
    host = engine.pool
    assert isinstance(host, PeerHost)
    peer = host._rooms[ROOM].peers[1]
    receiver = peer.pc.getTransceivers()[0].receiver
    member = engine._rooms[ROOM].members[1]
    await wait_until(
        lambda: member.uplink is not None and member.uplink.stats.decoded > 20,
        what="uplink decoded by the mixer",
    )
    assert "_handle_rtp_packet" in vars(receiver)  # our hook, on the instance
    streams = receiver._RTCRtpReceiver__remote_streams
    assert sum(s.packets_received for s in streams.values()) > 20
    assert receiver._RTCRtpReceiver__jitter_buffer._origin is None  # aiortc saw nothing


async def test_client_sender_takes_our_fec_encoder() -> None:
    # ClientPeer swaps aiortc's encoder for FecOpusEncoder through this private attribute;
    # frames (not packets) then still get aiortc's audio-level header extension.
    from podium.media.peer import SENDER_ENCODER_ATTRIBUTE, ClientPeer, FecOpusEncoder

    peer = ClientPeer(ice_hosts=["127.0.0.1"])
    try:
        await peer.create_offer()
        sender = peer._pc.getTransceivers()[0].sender
        assert isinstance(getattr(sender, SENDER_ENCODER_ATTRIBUTE), FecOpusEncoder)
        assert "audio_level" in inspect.getsource(type(sender)._next_encoded_frame)
    finally:
        await peer.close()


async def test_listeners_get_sender_reports_from_the_host(
    engine: EmbeddedEngine, join: Join
) -> None:
    # aiortc's RTCP loop is parked; the host's one task must still send each listener an SR
    # (with the fast path's counts) about every fastpath.SR_INTERVAL_SECONDS.
    client = await join(1)
    host = engine.pool
    assert isinstance(host, PeerHost)
    peer = host._rooms[ROOM].peers[1]
    await wait_until(lambda: peer.listener is not None, what="fast path taken over")
    assert peer.listener is not None
    receiver = client._pc.getTransceivers()[0].receiver
    await wait_until(
        lambda: peer.listener.ssrc in receiver._RTCRtpReceiver__lsr,  # type: ignore[union-attr]
        within=fastpath.SR_INTERVAL_SECONDS + 3,
        what="an RTCP sender report at the listener",
    )
    assert peer.listener.packets > 0


def test_srtp_receive_path_is_what_the_ssrc_gate_wraps() -> None:
    # host.limit_ssrcs wraps _setup_srtp (called on the instance once DTLS is up) and puts an
    # SsrcGate on the _rx_srtp it makes; every SRTP/SRTCP packet goes through that session's
    # unprotect / unprotect_rtcp (looked up per packet), and a pylibsrtp.Error drops it.
    assert "self._setup_srtp()" in inspect.getsource(RTCDtlsTransport.start)
    assert "self._rx_srtp = Session(rx_policy)" in inspect.getsource(RTCDtlsTransport._setup_srtp)
    assert "ssrc_type=Policy.SSRC_ANY_INBOUND" in inspect.getsource(RTCDtlsTransport._setup_srtp)
    receive = inspect.getsource(RTCDtlsTransport._recv_next)
    assert "data = self._rx_srtp.unprotect_rtcp(data)" in receive
    assert "data = self._rx_srtp.unprotect(data)" in receive
    assert "except pylibsrtp.Error" in receive
    assert not hasattr(Session, "__slots__")  # instance attributes can replace its methods


def test_ice_checks_go_through_what_the_remote_address_guard_wraps() -> None:
    # ice.ignore_checks_from replaces Connection.request_received on the instance: aioice's
    # StunProtocol calls it for every STUN request, and it is what answers, learns a
    # peer-reflexive address and checks it back.
    assert "self.receiver.request_received(" in inspect.getsource(
        aioice.ice.StunProtocol.datagram_received
    )
    handler = inspect.getsource(aioice.ice.Connection.request_received)
    assert "protocol.send_stun(response, addr)" in handler and "self.check_incoming(" in handler
    assert 'type="prflx"' in inspect.getsource(aioice.ice.Connection.check_incoming)
    # offer.check_offer splits lines as aiortc's parser does, so no candidate hides from it.
    assert "sdp.splitlines()" in inspect.getsource(aiortc.sdp.grouplines)
    assert 'attr == "candidate"' in inspect.getsource(aiortc.sdp.SessionDescription.parse)


async def test_connected_peer_has_the_ssrc_gate_and_the_check_guard(
    engine: EmbeddedEngine, join: Join
) -> None:
    peer = await taken_over(engine, join)
    dtls = peer.pc.getTransceivers()[0].receiver.transport
    assert isinstance(dtls._rx_srtp, Session)
    assert "unprotect" in vars(dtls._rx_srtp) and "unprotect_rtcp" in vars(dtls._rx_srtp)
    assert "request_received" in vars(dtls.transport._connection)
