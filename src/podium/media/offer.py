"""Offer validation, before any peer connection is created for it."""

from __future__ import annotations

from aiortc.sdp import SessionDescription as ParsedSdp

from podium.media.engine import MediaEngineError, SessionDescription

MAX_SDP_BYTES = 20_000


def check_offer(offer: SessionDescription) -> None:
    """Reject anything but a small offer with exactly one Opus-capable audio m-line."""
    if offer.type != "offer":
        raise MediaEngineError(f"expected an SDP offer, got {offer.type!r}")
    size = len(offer.sdp.encode("utf-8", "replace"))
    if size > MAX_SDP_BYTES:
        raise MediaEngineError(f"SDP offer too large ({size} bytes, limit {MAX_SDP_BYTES})")
    try:
        parsed = ParsedSdp.parse(offer.sdp)
    except Exception as exc:
        raise MediaEngineError("malformed SDP offer") from exc
    kinds = [m.kind for m in parsed.media]
    if kinds != ["audio"]:
        raise MediaEngineError(f"the offer must have exactly one audio m-line, got {kinds}")
    media = parsed.media[0]
    if not any(c.mimeType.lower() == "audio/opus" for c in media.rtp.codecs):
        raise MediaEngineError("the offer does not support Opus")
    if media.direction not in (None, "sendrecv", "recvonly"):
        raise MediaEngineError(f"the audio m-line must be sendrecv, got {media.direction}")
