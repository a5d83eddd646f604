"""Two Podium nodes, two Janus instances: one stage, whichever node each member came through."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.cli.bot import connect_audio
from podium.media.analysis import tone_wav
from podium.media.janus.engine import JanusEngine
from tests.cluster.conftest import two_nodes
from tests.e2e.audio import dominant, hears, record_after
from tests.janus.conftest import janus_settings
from tests.janus.helpers import hang_up, member_with_audio, promote
from tests.janus.janusd import JanusProcess

pytestmark = [pytest.mark.media, pytest.mark.postgres]


async def test_speaker_on_node_a_listeners_on_node_b_over_two_instances(
        tmp_path: Path, janus_pair: list[JanusProcess]) -> None:
    tones = {}
    for freq in (440, 660):
        tones[freq] = str(tmp_path / f"tone{freq}.wav")
        tone_wav(tones[freq], freq, 2.0)
    async with two_nodes(tmp_path, **janus_settings(janus_pair)) as (a, b):
        host = await a.user("host")
        room = await host.create_room("Janus, two nodes")
        rid = room["id"]
        host_rt = await host.connect()  # the speaker: node A
        await host_rt.join(rid)
        host_peer = await connect_audio(host_rt)
        host_peer.play_file(tones[440])
        guest_rt, guest = await member_with_audio(b, "guest", rid)  # listeners: node B
        guest.play_file(tones[660])  # a listener sending audio anyway
        ear_rt, ear = await member_with_audio(b, "ear", rid)
        engine_b = b.services.media
        assert isinstance(engine_b, JanusEngine)
        placed = engine_b._rooms[rid].members
        # Least loaded counts every node's participants: the host (node A) is on instance 0,
        # so node B's first listener goes to instance 1, its second back to 0.
        assert placed[guest_rt.user["id"]].instance == 1
        assert placed[ear_rt.user["id"]].instance == 0
        peers = ((ear_rt, ear), (guest_rt, guest), (host_rt, host_peer))
        try:
            for listener in (ear, guest):  # both instances hear the speaker on A
                heard = await record_after(listener, 1.0, 1.5)
                assert abs(dominant(heard) - 440) <= 5
                assert not hears(heard, 660), "a listener's audio reached the audience"

            await promote(host_rt, guest_rt, ear_rt)  # the guest is on B; the host decides on A
            heard = await record_after(ear, 0.7, 1.5)
            assert hears(heard, 440) and hears(heard, 660), "the promoted speaker is not heard"
            at_host = await record_after(host_peer, 0.3, 1.5)
            assert hears(at_host, 660), "the host on node A does not hear the new speaker"

            await host_rt.send("move_to_audience", user_id=guest_rt.user["id"])
            await ear_rt.wait_event("role_changed", match=lambda e: e["role"] == "listener")
            heard = await record_after(ear, 0.7, 1.5)
            assert hears(heard, 440) and not hears(heard, 660), "a demoted speaker was heard"
        finally:
            await hang_up(peers)


async def test_cascades_lost_with_a_dead_node_are_rebuilt(
        tmp_path: Path, janus_pair: list[JanusProcess]) -> None:
    tone = str(tmp_path / "tone440.wav")
    tone_wav(tone, 440, 2.0)
    async with two_nodes(tmp_path, **janus_settings(janus_pair)) as (a, b):
        host = await b.user("host")
        room = await host.create_room("Janus, a node dies")
        rid = room["id"]
        host_rt = await host.connect()  # the speaker: node B, instance 0
        await host_rt.join(rid)
        host_peer = await connect_audio(host_rt)
        host_peer.play_file(tone)
        # Node A's listeners take instances 0 and 1: A makes the cascades between them.
        near_rt, near = await member_with_audio(a, "near", rid)
        far_rt, far = await member_with_audio(a, "far", rid)
        engine_a, engine_b = a.services.media, b.services.media
        assert isinstance(engine_a, JanusEngine) and isinstance(engine_b, JanusEngine)
        assert {m.instance for m in engine_a._rooms[rid].members.values()} == {0, 1}
        ear_rt, ear = await member_with_audio(b, "ear", rid)  # node B's listener: instance 1
        assert engine_b._rooms[rid].members[ear_rt.user["id"]].instance == 1
        peers = ((ear_rt, ear), (near_rt, near), (far_rt, far), (host_rt, host_peer))
        try:
            assert abs(dominant(await record_after(ear, 1.0, 1.5)) - 440) <= 5

            engine_b.healing = False  # heal by hand below, after seeing the cascade gone
            for session in engine_a._sessions:  # node A dies: Janus drops all its handles
                await session.close()
            heard = await record_after(ear, 0.5, 1.0)
            assert not hears(heard, 440), "the cascade should have gone with node A"
            await engine_b.heal(rid)  # what node B's engine does every few seconds
            assert abs(dominant(await record_after(ear, 0.7, 1.5)) - 440) <= 5
        finally:
            await hang_up(peers)
