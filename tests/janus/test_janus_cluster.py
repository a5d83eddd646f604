"""Two Podium nodes, two Janus instances: one stage, whichever node each member came through."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from podium.cli.bot import connect_audio
from podium.media.analysis import tone_wav
from podium.media.janus.engine import JanusEngine
from podium.realtime.redis_roomlog import RedisRoomLog
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


async def _in_janus(engine: JanusEngine, rid: str) -> dict[int, tuple[set[int], set[int]]]:
    """Per instance, the room's RTP forwarders and cascade participants as Janus has them."""
    found = {}
    for index, bridge in engine._rooms[rid].bridges.items():
        session = engine._sessions[index]
        forwarders = await session.request(
            bridge.control, {"request": "listforwarders", "room": bridge.janus_room})
        people = await session.request(
            bridge.control, {"request": "listparticipants", "room": bridge.janus_room})
        found[index] = ({int(f["stream_id"]) for f in forwarders.get("rtp_forwarders", [])},
                        {int(p["id"]) for p in people.get("participants", [])
                         if str(p.get("display", "")).startswith("cascade-")})
    return found


def _made_by(engine: JanusEngine, rid: str) -> dict[int, tuple[set[int], set[int]]]:
    """Per instance, the forwarders and cascade participants this node made."""
    return {index: (set(bridge.forwards.values()), set(bridge.cascade_ids.values()))
            for index, bridge in engine._rooms[rid].bridges.items()}


async def test_a_dead_nodes_forwarders_are_removed_by_the_survivors(
        tmp_path: Path, janus_pair: list[JanusProcess]) -> None:
    """Node A stops dead (as with SIGKILL: its Janus sessions stay until Janus times them out)
    and its load figures expire: node B stops A's forwarders, kicks A's cascades and makes its
    own, and the stage is still heard across the instances."""
    tone = str(tmp_path / "tone440.wav")
    tone_wav(tone, 440, 2.0)
    async with two_nodes(tmp_path, **janus_settings(janus_pair)) as (a, b):
        host = await b.user("host")
        rid = (await host.create_room("Janus, a node stops"))["id"]
        host_rt = await host.connect()  # the speaker: node B, instance 0
        await host_rt.join(rid)
        host_peer = await connect_audio(host_rt)
        host_peer.play_file(tone)
        near_rt, near = await member_with_audio(a, "near", rid)  # A makes the cascades
        far_rt, far = await member_with_audio(a, "far", rid)
        engine_a, engine_b = a.services.media, b.services.media
        assert isinstance(engine_a, JanusEngine) and isinstance(engine_b, JanusEngine)
        ear_rt, ear = await member_with_audio(b, "ear", rid)  # node B's listener: instance 1
        assert engine_b._rooms[rid].members[ear_rt.user["id"]].instance == 1
        peers = ((ear_rt, ear), (near_rt, near), (far_rt, far), (host_rt, host_peer))
        try:
            by_a = _made_by(engine_a, rid)
            assert await _in_janus(engine_b, rid) == by_a  # A made every one of them
            assert all(len(streams) == 1 and len(people) == 1 for streams, people in by_a.values())
            assert abs(dominant(await record_after(ear, 1.0, 1.5)) - 440) <= 5

            engine_b.healing = False  # B's periodic work is done by hand below
            engine_a.healing = False  # A stops dead: no more requests, keepalives or reports
            for task in (engine_a._levels, *engine_a._aux,
                         *(s._poller for s in engine_a._sessions)):
                if task is not None:
                    task.cancel()
            log_a = a.services.rooms.log
            assert isinstance(log_a, RedisRoomLog)
            assert await engine_b.clear_orphans() == 0  # A is alive until its figures expire
            load_a = log_a._key("load", "janus", log_a.node)
            assert await log_a._redis.delete(load_a) == 1  # what 15 s without a report does

            assert await engine_b.clear_orphans() == 4  # two forwarders, two cascades
            assert await engine_b.clear_orphans() == 0  # taken once
            await engine_b.heal(rid)  # at once: Janus may still list a kicked cascade a moment
            by_b = _made_by(engine_b, rid)
            for _ in range(200):  # up to 10 s: Janus tells nobody when a kicked cascade is gone
                if (now := await _in_janus(engine_b, rid)) == by_b:
                    break
                await asyncio.sleep(0.05)  # polling Janus's lists: there is no event to await
            assert now == by_b, "a dead node's forwarder or cascade is left"
            for index, (streams, people) in now.items():
                assert len(streams) == 1 and len(people) == 1
                assert not streams & by_a[index][0] and not people & by_a[index][1]
            assert abs(dominant(await record_after(ear, 0.7, 1.5)) - 440) <= 5
        finally:
            await hang_up(peers)
