"""The listener fast path: exact audio, a continuous RTP stream, stage changes without gaps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium.config import Settings
from podium.media.analysis import tone_present
from podium.media.embedded import EmbeddedEngine
from podium.media.host import PeerHost
from podium.media.peer import ClientPeer

from .conftest import LOOPBACK, ROOM, record_more, tail, wait_until
from .rtp_probe import RtpProbe, sent_payloads, seq_gaps, steps_consistent, ts_steps

pytestmark = pytest.mark.media


@pytest.fixture(
    params=[(20, True), (20, False), (40, True), (60, True)],
    ids=["ptime20", "ptime20-encoded", "ptime40", "ptime60"],
)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EmbeddedEngine]:
    """20 ms listener packets forward a lone speaker's own packets (``media_passthrough``),
    or encode the mix like 40 and 60 ms packets do (``ptime20-encoded``)."""
    ptime, passthrough = request.param
    settings = Settings(
        ice_hosts=LOOPBACK,
        stun_urls=[],
        turn_urls=[],
        secret_key="test",
        data_dir=tmp_path,
        media_workers=0,
        media_listener_ptime_ms=ptime,
        media_passthrough=passthrough,
    )
    eng = EmbeddedEngine(settings)
    await eng.start()
    yield eng
    await eng.close()


def ptime_samples(engine: EmbeddedEngine) -> int:
    return engine._shared_samples


def forwards(engine: EmbeddedEngine) -> bool:
    """Whether a lone speaker's packets go to the listeners as they are."""
    return engine._passthrough and engine._shared_samples == 960


async def joined(engine: EmbeddedEngine, user_id: int, probe: RtpProbe | None = None) -> ClientPeer:
    peer = ClientPeer(ice_hosts=LOOPBACK)
    offer = await peer.create_offer()
    answer = await engine.connect(ROOM, user_id, offer)
    if probe is not None:
        probe.attach(peer)
    await peer.accept_answer(answer)
    await peer.wait_connected(5.0)
    return peer


async def hears_both(listener: ClientPeer) -> None:
    await wait_until(
        lambda: tone_present(tail(listener), 440) and tone_present(tail(listener), 660),
        what="both tones at the listener",
    )


async def test_listener_gets_exact_mix_in_a_continuous_stream(
    engine: EmbeddedEngine, tones: dict[int, str]
) -> None:
    probe = RtpProbe()
    a, b = await joined(engine, 1), await joined(engine, 2)
    listener = await joined(engine, 3, probe)
    try:
        await engine.set_heard(ROOM, frozenset({1, 2}))
        a.play_file(tones[440])
        b.play_file(tones[660])
        await hears_both(listener)
        start = len(probe.packets)
        await record_more(listener, 1.0)
        assert not tone_present(tail(listener, 1.0), 880)
        packets = probe.since(start)
        assert len(packets) >= 10
        assert seq_gaps(packets) == [], "sequence numbers must not skip"
        assert set(ts_steps(packets)) == {ptime_samples(engine)}
        assert set(probe.durations[start:]) == {ptime_samples(engine)}
        assert len({ssrc for _, _, ssrc in packets}) == 1
    finally:
        for peer in (a, b, listener):
            await peer.close()


async def test_stage_changes_keep_the_stream_continuous(
    engine: EmbeddedEngine, tones: dict[int, str]
) -> None:
    """Promote, mute, demote a user: their own stream switches between the shared mix and
    a 20 ms mix-minus with no sequence gap and no overlap in time."""
    probe = RtpProbe()
    speaker = await joined(engine, 1)
    user = await joined(engine, 2, probe)
    try:
        speaker.play_file(tones[440])
        user.play_file(tones[660])
        await engine.set_heard(ROOM, frozenset({1}))
        await wait_until(lambda: tone_present(tail(user), 440), what="user hears the speaker")
        await engine.set_heard(ROOM, frozenset({1, 2}))  # promoted: gets mix-minus
        await record_more(user, 0.6)
        assert not tone_present(tail(user), 660), "a speaker must not hear themself"
        assert tone_present(tail(user), 440)
        await engine.set_heard(ROOM, frozenset({2}))  # the other one muted
        await wait_until(lambda: not tone_present(tail(user, 0.3), 440), what="speaker muted")
        await engine.set_heard(ROOM, frozenset({1}))  # demoted again
        await wait_until(lambda: tone_present(tail(user), 440), what="back on the shared mix")
        await record_more(user, 0.4)
        packets, durations = probe.packets, probe.durations
        assert set(durations) == {960, ptime_samples(engine)}  # both streams were used
        # Never overlapping in time, and a gap at a switch is shorter than one packet. While
        # a lone speaker is forwarded, a packet lost or late on the way in is left out (a
        # gap in sequence numbers, its time skipped), as an SFU would.
        lost_ok = forwards(engine)
        assert steps_consistent(packets, durations, ptime_samples(engine), lost_ok) == []
        if not lost_ok:
            assert seq_gaps(packets) == []
    finally:
        for peer in (speaker, user):
            await peer.close()


async def test_a_lone_speaker_is_forwarded_as_sent_and_two_are_mixed(
    engine: EmbeddedEngine, tones: dict[int, str]
) -> None:
    """Passthrough: while one speaker is heard, listeners get that speaker's own Opus packets
    byte for byte (restamped); once two are heard, they get the encoded mix."""
    probe = RtpProbe()
    a, b = await joined(engine, 1), await joined(engine, 2)
    sent_a, sent_b = sent_payloads(a), sent_payloads(b)
    listener = await joined(engine, 3, probe)
    try:
        await engine.set_heard(ROOM, frozenset({1}))
        a.play_file(tones[440])
        await wait_until(lambda: tone_present(tail(listener), 440), what="the lone speaker")
        start = len(probe.payloads)
        await record_more(listener, 0.6)
        alone = probe.payloads[start:]
        from_a = set(sent_a)
        forwarded = sum(1 for p in alone if p in from_a)
        assert len(alone) >= 10
        assert forwarded == (len(alone) if forwards(engine) else 0)
        await engine.set_heard(ROOM, frozenset({1, 2}))
        b.play_file(tones[660])
        await hears_both(listener)
        start = len(probe.payloads)
        await record_more(listener, 0.6)
        mixed = probe.payloads[start:]
        assert len(mixed) >= 5
        assert not set(mixed) & (set(sent_a) | set(sent_b)), "two speakers are mixed"
        extra = ptime_samples(engine)
        assert steps_consistent(probe.packets, probe.durations, extra, forwards(engine)) == []
    finally:
        for peer in (a, b, listener):
            await peer.close()


async def test_nothing_is_held_after_everyone_leaves(engine: EmbeddedEngine) -> None:
    peers = [await joined(engine, uid) for uid in (1, 2, 3)]
    host = engine.pool
    assert isinstance(host, PeerHost)
    assert host.counts()[1] == 3
    await engine.disconnect(ROOM, 1)
    await peers[1].close()
    await engine.close_room(ROOM)
    await wait_until(lambda: engine.stats().peers == 0 and host.counts() == (0, 0, 0))
    assert engine.stats().rooms == 0
    for peer in peers:
        await peer.close()
