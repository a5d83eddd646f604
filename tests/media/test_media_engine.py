"""The embedded engine end to end: real aiortc peers on loopback, tones in, spectra out."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from podium.media.analysis import dominant_frequency, rms_dbfs, tone_present
from podium.media.embedded import EmbeddedEngine
from podium.media.engine import EngineStats, MediaEngineError, SessionDescription
from podium.media.peer import ClientPeer

from .conftest import ROOM, Join, record_more, tail, wait_until

pytestmark = pytest.mark.media

SILENT_DBFS = -50.0
# Well-formed, one Opus audio m-line, but no ICE credentials or DTLS fingerprint.
NO_ICE_OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 0 0 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=rtpmap:111 opus/48000/2",
        "a=sendrecv",
        "",
    ]
)


def hears(peer: ClientPeer, freq: float) -> bool:
    return tone_present(tail(peer), freq)


def silent(peer: ClientPeer, seconds: float = 0.3) -> bool:
    return rms_dbfs(tail(peer, seconds)) < SILENT_DBFS


async def test_listener_hears_speaker_tone(
    engine: EmbeddedEngine, join: Join, tones: dict[int, str]
) -> None:
    speaker, listener = await join(1), await join(2)
    await engine.set_heard(ROOM, frozenset({1}))
    speaker.play_file(tones[440])
    await wait_until(lambda: hears(listener, 440), what="440 Hz at the listener")
    await record_more(listener, 0.5)
    assert abs(dominant_frequency(tail(listener, 0.5)) - 440) <= 5
    assert listener.first_audio_at is not None


async def test_a_forwarded_speaker_is_told_of_the_expected_loss(
    engine: EmbeddedEngine, join: Join, tones: dict[int, str]
) -> None:
    """A speaker whose packets go to listeners as they are gets receiver reports of at least
    ``media_expected_loss_percent`` loss (10 %), so a browser adds FEC for the listeners;
    on loopback nothing is really lost."""
    speaker = await join(1)
    await engine.set_heard(ROOM, frozenset({1}))
    speaker.play_file(tones[440])
    sender = speaker._pc.getSenders()[0]

    async def reported() -> list[int]:
        stats = (await sender.getStats()).values()
        return [s.fractionLost for s in stats if s.type == "remote-inbound-rtp"]

    for _ in range(100):  # aiortc sends a receiver report every 0.5-1.5 s
        if await reported():
            break
        await record_more(speaker, 0.1)
    fractions = await reported()
    assert fractions, "no receiver report reached the speaker"
    assert min(fractions) == 10 * 256 // 100


async def test_two_speakers_are_mixed(
    engine: EmbeddedEngine, join: Join, tones: dict[int, str]
) -> None:
    a, b, listener = await join(1), await join(2), await join(3)
    await engine.set_heard(ROOM, frozenset({1, 2}))
    a.play_file(tones[440])
    b.play_file(tones[660])
    await wait_until(lambda: hears(listener, 440) and hears(listener, 660), what="both tones mixed")


async def test_speakers_get_mix_minus(
    engine: EmbeddedEngine, join: Join, tones: dict[int, str]
) -> None:
    a, b = await join(1), await join(2)
    await engine.set_heard(ROOM, frozenset({1, 2}))
    a.play_file(tones[440])
    b.play_file(tones[660])
    await wait_until(lambda: hears(a, 660) and hears(b, 440), what="each hears the other")
    await record_more(a, 0.5)
    await record_more(b, 0.5)
    assert hears(a, 660) and not hears(a, 440)
    assert hears(b, 440) and not hears(b, 660)


async def test_unheard_participant_is_dropped_at_server(
    engine: EmbeddedEngine, join: Join, tones: dict[int, str]
) -> None:
    speaker, intruder, listener = await join(1), await join(2), await join(3)
    await engine.set_heard(ROOM, frozenset({1}))
    intruder.play_file(tones[880])  # sends audio although nobody allowed it
    speaker.play_file(tones[440])
    await wait_until(lambda: hears(listener, 440), what="the heard speaker")
    await record_more(listener, 0.6)
    assert not hears(listener, 880)
    assert abs(dominant_frequency(tail(listener)) - 440) <= 5


async def test_nobody_heard_means_silence(
    engine: EmbeddedEngine, join: Join, tones: dict[int, str]
) -> None:
    intruder, listener = await join(1), await join(2)
    intruder.play_file(tones[880])
    await record_more(listener, 1.0)
    assert silent(listener, 0.8)


async def test_set_heard_mutes_and_unmutes_without_renegotiation(
    engine: EmbeddedEngine, join: Join, tones: dict[int, str]
) -> None:
    speaker, listener = await join(1), await join(2)
    speaker.play_file(tones[440])
    await engine.set_heard(ROOM, frozenset({1}))
    await wait_until(lambda: hears(listener, 440), what="speaker heard")

    await engine.set_heard(ROOM, frozenset())  # mute / demote
    await wait_until(lambda: silent(listener), what="speaker silenced")

    await engine.set_heard(ROOM, frozenset({1}))  # unmute / promote
    await wait_until(lambda: hears(listener, 440), what="speaker heard again")


async def test_promoted_listener_is_heard_without_renegotiation(
    engine: EmbeddedEngine, join: Join, tones: dict[int, str]
) -> None:
    audience_member, other = await join(1), await join(2)
    audience_member.play_file(tones[660])  # e.g. a bot that is not on stage yet
    await record_more(other, 0.5)
    assert silent(other)
    await engine.set_heard(ROOM, frozenset({1}))
    await wait_until(lambda: hears(other, 660), what="promoted user heard")


async def test_levels_reported_for_heard_users_only(
    engine: EmbeddedEngine, join: Join, tones: dict[int, str]
) -> None:
    reports: list[dict[int, float]] = []
    engine.set_callbacks(lambda room, levels: reports.append(levels), lambda room, uid: None)
    speaker, _quiet, intruder = await join(1), await join(2), await join(3)
    await engine.set_heard(ROOM, frozenset({1, 2}))
    speaker.play_file(tones[440])
    intruder.play_file(tones[880])
    await wait_until(lambda: any(r.get(1, 0.0) > 0.5 for r in reports), what="speaker level")
    assert all(set(r) <= {1, 2} for r in reports)
    assert reports[-1].get(2) == 0.0


async def test_peer_gone_fires_when_client_closes(engine: EmbeddedEngine, join: Join) -> None:
    gone: list[tuple[str, int]] = []
    engine.set_callbacks(lambda room, levels: None, lambda room, uid: gone.append((room, uid)))
    leaving, kicked, staying = await join(1), await join(2), await join(3)
    await engine.disconnect(ROOM, 2)  # our own close: no callback
    await leaving.close()
    await wait_until(lambda: bool(gone), what="peer gone callback")
    await wait_until(lambda: engine.stats().peers == 1, what="peer dropped")
    assert gone == [(ROOM, 1)]
    assert kicked and staying


def open_sockets() -> int:
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the fd that listed the directory is gone
            count += os.readlink(fd).startswith("socket:")
    return count


async def test_everyone_leaving_frees_the_room(engine: EmbeddedEngine, join: Join) -> None:
    sockets_before = open_sockets()
    a, b = await join(1), await join(2)
    c = await join(3, room="room-2")
    stats = engine.stats()
    assert (stats.rooms, stats.peers) == (2, 3)
    assert stats.tasks >= 2  # one mixer per room, plus readers
    await engine.disconnect(ROOM, 1)
    await b.close()  # remote close path
    await engine.close_room("room-2")
    await wait_until(lambda: engine.stats() == EngineStats(0, 0, 0), what="nothing held")
    for peer in (a, c):
        await peer.close()
    # Server and clients share this process: once all are closed, no UDP socket is left.
    await wait_until(lambda: open_sockets() == sockets_before, what="sockets closed")


async def test_connect_replaces_existing_peer(engine: EmbeddedEngine, join: Join) -> None:
    gone: list[tuple[str, int]] = []
    engine.set_callbacks(lambda room, levels: None, lambda room, uid: gone.append((room, uid)))
    first = await join(1)
    second = await join(1)
    assert engine.stats().peers == 1
    await wait_until(lambda: first.connection_state == "closed", what="old peer closed")
    assert second.connection_state == "connected"
    assert gone == []


@pytest.mark.parametrize(
    ("sdp", "kind", "message"),
    [
        ("garbage", "offer", "exactly one audio m-line"),
        ("v=0\r\n" + "a=x\r\n" * 5000, "offer", "too large"),
        ("v=0\r\n", "answer", "expected an SDP offer"),
        (NO_ICE_OFFER, "offer", "could not negotiate"),
    ],
)
async def test_bad_sdp_is_rejected(
    engine: EmbeddedEngine, sdp: str, kind: str, message: str
) -> None:
    with pytest.raises(MediaEngineError, match=message):
        await engine.connect(ROOM, 1, SessionDescription(sdp=sdp, type=kind))
    assert engine.stats() == EngineStats(0, 0, 0)


async def test_close_releases_everything(engine: EmbeddedEngine, join: Join) -> None:
    await join(1)
    await join(2, room="room-2")
    await engine.close()
    assert engine.stats() == EngineStats(0, 0, 0)
    with pytest.raises(MediaEngineError):
        await engine.connect(ROOM, 1, SessionDescription(sdp="v=0", type="offer"))
