"""Two Podium nodes, two Janus instances: one stage, whichever node each member came through."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.cli.bot import connect_audio
from podium.media.analysis import tone_wav
from podium.media.janus.engine import JanusEngine
from tests.cluster.conftest import cluster_settings
from tests.conftest import run_server
from tests.e2e.audio import dominant, hears, record_after
from tests.janus.conftest import janus_settings
from tests.janus.janusd import JanusProcess
from tests.janus.test_janus_audio import _member

pytestmark = [pytest.mark.media, pytest.mark.postgres]


async def test_speaker_on_node_a_listeners_on_node_b_over_two_instances(
        tmp_path: Path, janus_pair: list[JanusProcess]) -> None:
    tones = {}
    for freq in (440, 660):
        tones[freq] = str(tmp_path / f"tone{freq}.wav")
        tone_wav(tones[freq], freq, 2.0)
    shared = {**cluster_settings(), **janus_settings(janus_pair)}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    async with run_server(tmp_path / "a", "postgres", **shared) as a, \
            run_server(tmp_path / "b", "postgres", reset_db=False, **shared) as b:
        host = await a.user("host")
        room = await host.create_room("Janus, two nodes")
        rid = room["id"]
        host_rt = await host.connect()  # the speaker: node A
        await host_rt.join(rid)
        host_peer = await connect_audio(host_rt)
        host_peer.play_file(tones[440])
        guest_rt, guest = await _member(b, "guest", rid)  # listeners: node B
        guest.play_file(tones[660])  # a listener sending audio anyway
        ear_rt, ear = await _member(b, "ear", rid)
        engine_b = b.services.media
        assert isinstance(engine_b, JanusEngine)
        assert {m.instance for m in engine_b._rooms[rid].members.values()} == {0, 1}
        peers = ((ear_rt, ear), (guest_rt, guest), (host_rt, host_peer))
        try:
            for listener in (ear, guest):  # both instances hear the speaker on A
                heard = await record_after(listener, 1.0, 1.5)
                assert abs(dominant(heard) - 440) <= 5
                assert not hears(heard, 660), "a listener's audio reached the audience"

            await guest_rt.send("raise_hand")  # on B; the host decides on A
            await host_rt.wait_for(lambda: len(host_rt.room["hands"]) == 1)
            await host_rt.send("invite_to_speak", user_id=guest_rt.user["id"])
            await guest_rt.wait_for(lambda: guest_rt.room["me"]["invited"])
            await guest_rt.send("accept_invite")
            await ear_rt.wait_event("role_changed", match=lambda e: e["role"] == "speaker")
            heard = await record_after(ear, 0.7, 1.5)
            assert hears(heard, 440) and hears(heard, 660), "the promoted speaker is not heard"
            at_host = await record_after(host_peer, 0.3, 1.5)
            assert hears(at_host, 660), "the host on node A does not hear the new speaker"

            await host_rt.send("move_to_audience", user_id=guest_rt.user["id"])
            await ear_rt.wait_event("role_changed", match=lambda e: e["role"] == "listener")
            heard = await record_after(ear, 0.7, 1.5)
            assert hears(heard, 440) and not hears(heard, 660), "a demoted speaker was heard"
        finally:
            for rt, peer in peers:
                await peer.close()
                await rt.send("leave")
                await rt.close()
