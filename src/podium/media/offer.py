"""Offer validation, before any peer connection is created for it.

ICE candidates: an offer may name at most ``MAX_CANDIDATES``, and ``check_offer`` keeps only
those ICE may use and send checks to (``podium.media.ice.RemoteAddresses``): UDP, of type
host, srflx or relay, at an allowed IP address. Host names (``*.local`` mDNS names of browsers
without microphone permission included) are dropped: nothing is lost, the browser's own
checks reach the server and tell it the address (a peer-reflexive candidate).
"""

from __future__ import annotations

from aiortc.sdp import SessionDescription as ParsedSdp

from podium.media.engine import MediaEngineError, SessionDescription
from podium.media.ice import RemoteAddresses

MAX_SDP_BYTES = 20_000
MAX_CANDIDATES = 32
"""A browser offers a few candidates per network interface (host, server-reflexive, relay;
UDP and TCP; IPv4 and IPv6): rarely more than 15. Each one costs ICE checks."""
CANDIDATE = "a=candidate"
USABLE_TYPES = frozenset({"host", "srflx", "relay"})  # aioice refuses others ("prflx")


def check_offer(
    offer: SessionDescription, remote: RemoteAddresses | None = None
) -> SessionDescription:
    """Reject anything but a small offer with exactly one Opus-capable audio m-line and at
    most ``MAX_CANDIDATES`` ICE candidates; return it with only the candidates ``remote``
    allows (unchanged when ``remote`` is None)."""
    if offer.type != "offer":
        raise MediaEngineError(f"expected an SDP offer, got {offer.type!r}")
    size = len(offer.sdp.encode("utf-8", "replace"))
    if size > MAX_SDP_BYTES:
        raise MediaEngineError(f"SDP offer too large ({size} bytes, limit {MAX_SDP_BYTES})")
    # Lines as aiortc's parser splits them (str.splitlines), so none can hide from the count.
    lines = offer.sdp.splitlines()
    count = sum(1 for line in lines if line.startswith(CANDIDATE))
    if count > MAX_CANDIDATES:
        raise MediaEngineError(f"the offer has {count} ICE candidates (limit {MAX_CANDIDATES})")
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
    if remote is None:
        return offer
    return SessionDescription(sdp=keep_candidates(lines, remote), type=offer.type)


def keep_candidates(lines: list[str], remote: RemoteAddresses) -> str:
    """The SDP with only usable candidates. If any was dropped, ``a=end-of-candidates`` goes
    too, so ICE waits for the client's own checks rather than failing with nothing to try."""
    kept = [line for line in lines if not line.startswith(CANDIDATE) or _usable(line, remote)]
    if len(kept) != len(lines):
        kept = [line for line in kept if line != "a=end-of-candidates"]
    return "\r\n".join(kept) + "\r\n"


def _usable(line: str, remote: RemoteAddresses) -> bool:
    # a=candidate:FOUNDATION COMPONENT TRANSPORT PRIORITY ADDRESS PORT typ TYPE ...
    _, _, value = line.partition(":")
    bits = value.split()
    return (
        len(bits) >= 8
        and bits[2].lower() == "udp"  # aioice pairs UDP only: a TCP candidate is never used
        and bits[7] in USABLE_TYPES
        and remote.allows(bits[4])
    )
