"""The seam between the control plane and whatever moves audio.

The control plane (``podium.services``) owns who may be heard; an engine only carries out
what it is told. Engines: ``EmbeddedEngine`` (aiortc, in process) now; a Janus engine later.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

LevelsCallback = Callable[[str, dict[int, float]], Awaitable[None] | None]
"""Called with (room_id, {user_id: level 0..1}) a few times a second for users who are heard."""

PeerGoneCallback = Callable[[str, int], Awaitable[None] | None]
"""Called with (room_id, user_id) when a participant's peer connection fails or closes."""

CaptionSink = Callable[[int, Any, int], None]
"""Called with (user_id, 20 ms of decoded 48 kHz mono int16 audio, position on the room's
clock in samples) from the mixer's tick: it must return at once (``podium.captions``)."""
RecordingSink = Callable[[int, bytes], None]
"""Called on the audio clock with (position at 48 kHz on the room's clock, Opus packet) for
every packet the room's listeners are sent (``b""``: lost on its way in). Must not block."""


@dataclass(frozen=True, slots=True)
class SessionDescription:
    sdp: str
    type: str  # "offer" or "answer"


@dataclass(frozen=True, slots=True)
class EngineStats:
    rooms: int
    peers: int
    tasks: int


class MediaEngineError(Exception):
    """Bad SDP, or a peer that could not be set up. Carries a message safe to show a client."""


class MediaEngine(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None:
        """Close every peer and room; after this the engine holds no tasks or sockets."""

    async def connect(
        self, room_id: str, user_id: int, offer: SessionDescription
    ) -> SessionDescription:
        """Open (or replace) the user's one peer connection in the room and return the answer.

        The peer always receives the room's audio (the mix, or mix-minus while heard) and may
        send audio, which is dropped unless the user is in the room's heard set.
        """

    async def disconnect(self, room_id: str, user_id: int) -> None:
        """Close the user's peer connection, if any."""

    async def set_heard(self, room_id: str, user_ids: frozenset[int]) -> None:
        """Exactly these users' audio is mixed from now on; everyone else's is dropped."""

    async def close_room(self, room_id: str) -> None:
        """Close every peer in the room and free its mixer."""

    async def start_recording(self, room_id: str, sink: RecordingSink) -> None:
        """Hand the room's listener packets to ``sink`` from now on (the same packets, no
        second encode). Raises ``MediaEngineError`` if this engine cannot record."""

    async def stop_recording(self, room_id: str) -> None:
        """No more packets to the room's sink (if any)."""

    def set_callbacks(self, on_levels: LevelsCallback, on_peer_gone: PeerGoneCallback) -> None: ...

    @property
    def supports_captions(self) -> bool:
        """Whether ``set_caption_sink`` works (the engine decodes speakers itself)."""

    def set_caption_sink(
        self, room_id: str, sink: CaptionSink | None, user_ids: frozenset[int] = frozenset()
    ) -> None:
        """From now on hand ``sink`` the decoded audio of these heard users (the speakers who
        opted in to captions); ``None`` stops. Raises ``MediaEngineError`` if unsupported."""

    def stats(self) -> EngineStats: ...


class NoCaptions:
    """For engines that never see decoded speaker audio (Janus mixes in its own process)."""

    engine_name = "this media engine"

    @property
    def supports_captions(self) -> bool:
        return False

    def set_caption_sink(
        self, room_id: str, sink: CaptionSink | None, user_ids: frozenset[int] = frozenset()
    ) -> None:
        if sink is not None:
            raise MediaEngineError(
                f"Captions are not supported by {self.engine_name}: they need the embedded "
                "media engine, which decodes each speaker (PODIUM_MEDIA_ENGINE=embedded).")
