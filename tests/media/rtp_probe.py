"""Watch the RTP a ``ClientPeer`` receives (sequence numbers, timestamps) without changing it."""

from __future__ import annotations

from typing import Any

from aiortc.rtp import RtpPacket

from podium.media.fastpath import is_rtcp
from podium.media.peer import ClientPeer


class RtpProbe:
    """Records (sequence, timestamp, ssrc) of every RTP packet, then lets aiortc handle it.

    ``durations`` holds each packet's Opus duration in 48 kHz samples (from its TOC byte).
    """

    def __init__(self) -> None:
        self.packets: list[tuple[int, int, int]] = []
        self.durations: list[int] = []
        self.payloads: list[bytes] = []

    def attach(self, peer: ClientPeer) -> None:
        for receiver in peer._pc.getReceivers():
            original = receiver._handle_rtp_packet

            async def handle(packet: Any, arrival_time_ms: int, original: Any = original) -> None:
                self.packets.append((packet.sequence_number, packet.timestamp, packet.ssrc))
                self.durations.append(opus_samples(packet.payload))
                self.payloads.append(bytes(packet.payload))
                await original(packet, arrival_time_ms)

            setattr(receiver, "_handle_rtp_packet", handle)  # noqa: B010 (method override)

    def since(self, start: int) -> list[tuple[int, int, int]]:
        return self.packets[start:]


def sent_payloads(peer: ClientPeer) -> list[bytes]:
    """Collects the Opus payloads ``peer`` sends from now on (before SRTP)."""
    sent: list[bytes] = []
    for sender in peer._pc.getSenders():
        transport = sender.transport
        original = transport._send_rtp

        async def send_rtp(data: bytes, original: Any = original) -> None:
            if not is_rtcp(data):  # aiortc sends its RTCP through here too
                sent.append(bytes(RtpPacket.parse(data).payload))
            await original(data)

        setattr(transport, "_send_rtp", send_rtp)  # noqa: B010 (method override)
    return sent


def seq_gaps(packets: list[tuple[int, int, int]]) -> list[int]:
    """Sequence steps other than +1 (mod 2^16)."""
    steps = [(b[0] - a[0]) & 0xFFFF for a, b in zip(packets, packets[1:], strict=False)]
    return [s for s in steps if s != 1]


def steps_consistent(
    packets: list[tuple[int, int, int]], durations: list[int], extra: int, lost_ok: bool
) -> list[tuple[int, int, int]]:
    """Steps that break continuity: each timestamp step must be the packet's duration plus
    room for ``missing`` lost packets (``lost_ok``: gaps in sequence numbers are allowed,
    consistent with the timestamps) and less than ``extra`` samples more. Returns the bad
    (sequence step, timestamp step, duration) triples."""
    bad = []
    for a, b, duration in zip(packets, packets[1:], durations, strict=False):
        seq_step = (b[0] - a[0]) & 0xFFFF
        step = (b[1] - a[1]) & 0xFFFFFFFF
        missing = seq_step - 1
        low = duration * (1 + missing)
        if missing < 0 or (missing and not lost_ok) or not low <= step < low + extra:
            bad.append((seq_step, step, duration))
    return bad


def ts_steps(packets: list[tuple[int, int, int]]) -> list[int]:
    return [(b[1] - a[1]) & 0xFFFFFFFF for a, b in zip(packets, packets[1:], strict=False)]


_SILK_MS = (10, 20, 40, 60)
_CELT_MS = (2.5, 5, 10, 20)


def opus_samples(payload: bytes) -> int:
    """Duration of one Opus packet at 48 kHz (RFC 6716 section 3.1, the TOC byte)."""
    toc = payload[0]
    config, code = toc >> 3, toc & 3
    if config < 12:
        frame_ms: float = _SILK_MS[config % 4]
    elif config < 16:
        frame_ms = (10, 20)[config % 2]
    else:
        frame_ms = _CELT_MS[config % 4]
    frames = 1 if code == 0 else 2 if code in (1, 2) else payload[1] & 0x3F
    return int(frame_ms * 48 * frames)
