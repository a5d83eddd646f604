"""Canaries for the aiortc/aioice internals the fast path borrows (see podium.media.fastpath).

If one of these fails after an upgrade, the fast path is broken: read fastpath's docstring,
re-check each borrowed attribute against the new aiortc/aioice source, then re-pin.
"""

from __future__ import annotations

import inspect
import socket
from importlib.metadata import version

import aioice.ice
import pytest
from aiortc import RTCDtlsTransport, RTCRtpReceiver, RTCRtpSender
from pylibsrtp import Session

from podium.media.embedded import EmbeddedEngine
from podium.media.fastpath import take_over
from podium.media.host import PeerHost

from .conftest import ROOM, Join, wait_until

pytestmark = pytest.mark.media


def test_pinned_versions() -> None:
    assert version("aiortc") == "1.16.0"
    assert version("aioice") == "0.13.0"


def test_sender_rtcp_reads_the_counters_we_refresh() -> None:
    source = inspect.getsource(RTCRtpSender._run_rtcp)
    for name in ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count"):
        assert f"self.__{name}" in source, name
    # aiortc's RTP loop must wait on the track, which (SilentTrack) never yields.
    assert "_next_encoded_frame" in inspect.getsource(RTCRtpSender._run_rtp)


def test_dtls_transport_protects_with_tx_srtp() -> None:
    assert "self._tx_srtp.protect(data)" in inspect.getsource(RTCDtlsTransport._send_rtp)
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)


async def test_connected_peer_exposes_what_the_fast_path_takes(
    engine: EmbeddedEngine, join: Join
) -> None:
    await join(1)
    host = engine.pool
    assert isinstance(host, PeerHost)
    peer = host._rooms[ROOM].peers[1]
    await wait_until(lambda: peer.listener is not None, what="fast path taken over")
    sender = peer.pc.getTransceivers()[0].sender
    dtls = sender.transport
    assert isinstance(dtls._tx_srtp, Session)
    pair = dtls.transport._connection._nominated[1]
    assert isinstance(pair.protocol.transport._sock, socket.socket)
    assert isinstance(pair.remote_addr, tuple)
    assert isinstance(sender._ssrc, int)
    for name in ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count"):
        assert hasattr(sender, f"_RTCRtpSender__{name}"), name
    assert any(c.mimeType.lower() == "audio/opus" for c in peer.pc.getTransceivers()[0]._codecs)
    listener = take_over(peer.pc, 1, 0)  # what the host did: must work on this aiortc
    assert listener.ssrc == sender._ssrc and listener.pt in range(96, 128)
    assert listener.sendto == pair.protocol.transport._sock.sendto  # the raw socket, not asyncio


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
