"""Encode-once Opus: one libopus encoder per mix, and Opus-only codec negotiation.

Each mix is encoded once here and the same bytes go to every listener who hears it.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from typing import Any, TypeAlias

from aiortc import RTCRtpSender, RTCRtpTransceiver
from av import CodecContext
from av.audio.codeccontext import AudioCodecContext
from av.audio.frame import AudioFrame
from av.packet import Packet

from podium.media.mixer import SAMPLE_RATE, Samples

log = logging.getLogger(__name__)

AnyPacket: TypeAlias = "Packet[Any]"
TIME_BASE = Fraction(1, SAMPLE_RATE)
# Full-band speech, mono because the stage mix is mono (the SDP still says opus/48000/2, and
# decoders accept mono packets on that). RFC 7587 suggests 28-40 kbps for one encode, but the
# mix is a second (tandem) encode with FEC on: speech through the client's encoder and this
# one scores PESQ-WB 3.77 at 32 kbps with 10 % expected loss, 4.17 at 48 kbps (offline, same
# clip as benchmarks/quality.py; 4.32 at 64 kbps).
OPUS_BITRATE = 48_000
# A complete 20 ms Opus packet (CELT-only, full band, mono) that decodes to digital silence.
OPUS_SILENCE = bytes([0xF8, 0xFF, 0xFE])
SILENT_FLUSH_FRAMES = 3  # silent frames still encoded, so the encoder's history is silence too


class OpusStream:
    """One libopus encoder: mono 48 kHz int16 frames in, one packet per frame out.

    ``frame_ms`` (20/40/60) is the packet duration: the caller passes that many samples.
    ``expected_loss`` > 0 turns on in-band FEC (LBRR): each packet also carries a coarse
    copy of the previous frame, which the receiver decodes when a packet is lost.
    """

    def __init__(
        self, bitrate: int = OPUS_BITRATE, frame_ms: int = 20, expected_loss: int = 0
    ) -> None:
        codec = CodecContext.create("libopus", "w")
        assert isinstance(codec, AudioCodecContext)
        codec.bit_rate = bitrate
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = SAMPLE_RATE
        codec.time_base = TIME_BASE
        options = {"application": "voip", "frame_duration": str(frame_ms)}
        if expected_loss > 0:
            options.update(fec="1", packet_loss=str(expected_loss))
        codec.options = options
        self._codec = codec
        self.frame_samples = SAMPLE_RATE * frame_ms // 1000
        self._silent = 0  # consecutive all-zero frames

    def encode_bytes(self, samples: Samples, pts: int) -> bytes | None:
        """``encode``, as bytes. Digital silence (nobody talking: a lone speaker's mix-minus,
        a quiet stage) becomes ``OPUS_SILENCE`` after ``SILENT_FLUSH_FRAMES``: an encode
        costs ~300 µs here, 50 times a second per stream. Only for 20 ms packets."""
        if self.frame_samples == SAMPLE_RATE // 50 and not samples.any():
            self._silent += 1
            if self._silent > SILENT_FLUSH_FRAMES:
                return OPUS_SILENCE
        else:
            self._silent = 0
        packet = self.encode(samples, pts)
        return bytes(packet) if packet is not None else None

    def encode(self, samples: Samples, pts: int) -> AnyPacket | None:
        """Encode one frame; ``pts`` (48 kHz units) becomes the packet's RTP timestamp offset."""
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = pts
        frame.time_base = TIME_BASE
        packets = self._codec.encode(frame)
        if not packets:
            return None
        packet = packets[-1]
        # libopus reports pts shifted by its look-ahead; the caller's clock is the truth,
        # and every stream of a room must share it so switching streams stays continuous.
        packet.pts = pts
        packet.time_base = TIME_BASE
        return packet


def prefer_opus(transceiver: RTCRtpTransceiver) -> None:
    """Negotiate Opus only: pre-encoded Opus packets cannot be sent as any other codec."""
    codecs = RTCRtpSender.getCapabilities("audio").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() == "audio/opus"])
