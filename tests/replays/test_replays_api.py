"""Recording over the API: the REC flag everywhere, replays, trims, access, clips, deleting.

Audio here is fed to the room's recorder as the engine's mixer would (``recorder.put``, the
engine's sink), so these run fast on both databases; tests/replays/test_recording_audio.py
records real WebRTC speakers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from podium.cli.bot import fetch_replay
from podium.media import ogg
from tests.api.helpers import (
    Member,
    act,
    assert_error,
    join_http,
    member,
    members,
    ok,
)
from tests.conftest import Server
from tests.realtime.helpers import assert_matches_fresh_view, connected
from tests.replays.helpers import decode_ogg, dominant, hears, tone_packets, window

RATE = ogg.SAMPLE_RATE


def feed(server: Server, room_id: str, packets: Any) -> None:
    recorder = server.services.recordings.active[room_id].recorder
    for pos, packet in packets:
        recorder.put(pos, packet)


async def recorded_room(server: Server, host: Member, *speakers: Member) -> tuple[str, str]:
    """A recorded room (4 s: 2 s of 440 Hz, 2 s of 880 Hz), ended. Returns (room, replay)."""
    room = ok(await host.http.post("/rooms", json={"title": "Recorded", "record": True}), 201)
    assert room["recording"] is True
    rid = room["id"]
    await join_http(host, rid)
    active = server.services.recordings.active[rid]
    for who in speakers:  # heard from 0.5 s to 3.5 s, as the speaking events would say
        active.timeline.append({"user_id": who.id, "name": who.account.display_name,
                                "start_ms": 500, "end_ms": 3500})
    feed(server, rid, [*tone_packets(440, 2.0), *tone_packets(880, 2.0, start=2 * RATE)])
    ok(await act(host, rid, "end"))
    replay = ok(await host.http.get(f"/rooms/{rid}/replay"))
    return rid, str(replay["id"])


async def test_the_rec_flag_reaches_room_views_events_and_the_hallway(server: Server) -> None:
    host, guest = await members(server, "host", "guest")
    room = ok(await host.http.post("/rooms", json={"title": "Talk"}), 201)
    rid = room["id"]
    assert room["recording"] is False
    host_rt = await connected(host, rid)
    guest_rt = await connected(guest, rid)
    assert guest_rt.room is not None and guest_rt.room["recording"] is False
    assert_error(await guest.http.post(f"/rooms/{rid}/recording", json={"on": True}), 403)
    assert ok(await host.http.post(f"/rooms/{rid}/recording", json={"on": True})) == {
        "recording": True}
    event = await guest_rt.wait_event("recording_changed")
    assert event["recording"] is True
    await assert_matches_fresh_view(guest_rt, guest)
    await assert_matches_fresh_view(host_rt, host)
    cards = ok(await guest.http.get("/rooms"))["rooms"]
    assert [c["recording"] for c in cards if c["id"] == rid] == [True]
    ok(await host.http.post(f"/rooms/{rid}/recording", json={"on": False}))
    await guest_rt.wait_for(lambda: guest_rt.room is not None
                            and guest_rt.room["recording"] is False)
    await assert_matches_fresh_view(guest_rt, guest)
    assert_error(await host.http.post(f"/rooms/{rid}/recording", json={"on": "yes"}), 422)
    replay = ok(await host.http.get(f"/rooms/{rid}/replay"))
    assert replay["room_id"] == rid and replay["host"]["username"] == "host"
    await host_rt.close()
    await guest_rt.close()


async def test_a_replay_plays_trims_and_is_deleted_with_its_files(server: Server,
                                                                 tmp_path: Path) -> None:
    host, speaker, other = await members(server, "host", "speaker", "other")
    rid, replay_id = await recorded_room(server, host, speaker)
    replay = ok(await other.http.get(f"/replays/{replay_id}"))
    # 4 s fed; the recording keeps wall-clock time, so it may run on in silence to the end.
    assert replay["ended_at"] is not None and 4000 <= replay["duration_ms"] <= 8000
    assert replay["audio_url"] == f"/api/v1/replays/{replay_id}/audio.ogg"
    assert [s["username"] for s in replay["speakers"]] == ["speaker"]
    assert replay["chapters"] and replay["chapters"][0]["start_ms"] == 0
    assert replay["transcript_url"] is None
    audio = decode_ogg(await other.client.replay_audio(replay_id))
    assert abs(dominant(window(audio, 0.2, 1.8)) - 440) <= 5
    assert abs(dominant(window(audio, 2.2, 3.8)) - 880) <= 5

    # Byte ranges, and a download name on request.
    part = await other.http.get(f"/replays/{replay_id}/audio.ogg",
                                headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part.content.startswith(b"OggS")
    saved = await other.http.get(f"/replays/{replay_id}/audio.ogg?download=1")
    assert saved.headers["content-disposition"].startswith("attachment")

    assert_error(await other.http.patch(f"/replays/{replay_id}", json={"trim_start_ms": 1}),
                 403)
    assert_error(await host.http.patch(f"/replays/{replay_id}",
                                       json={"trim_start_ms": 60_000}), 422, "invalid_trim")
    assert_error(await host.http.patch(f"/replays/{replay_id}", json={"access": "all"}), 422)
    trimmed = ok(await host.http.patch(f"/replays/{replay_id}", json={"trim_start_ms": 2000}))
    assert trimmed["trim_start_ms"] == 2000
    audio = decode_ogg(await other.client.replay_audio(replay_id))
    assert abs(len(audio) / RATE - (replay["duration_ms"] - 2000) / 1000) <= 0.1
    assert not hears(audio, 440)
    assert abs(dominant(audio[RATE // 10:RATE * 19 // 10]) - 880) <= 5

    # The bot saves it too: podium bot listen --replay ID --out file.ogg
    out = tmp_path / "bot.ogg"
    await fetch_replay(argparse.Namespace(server=server.url, token=other.token,
                                          replay=replay_id, out=str(out)))
    assert out.read_bytes() == await other.client.replay_audio(replay_id)

    assert_error(await other.http.delete(f"/replays/{replay_id}"), 403)
    files = sorted(p.name for p in server.services.recordings.dir.iterdir())
    assert f"{replay_id}.ogg" in files and f"{replay_id}.t2000.ogg" in files
    ok(await host.http.delete(f"/replays/{replay_id}"))
    assert not list(server.services.recordings.dir.glob(f"{replay_id}*"))
    assert_error(await host.http.get(f"/replays/{replay_id}"), 404)
    assert_error(await host.http.get(f"/rooms/{rid}/replay"), 404)


async def test_access_hides_private_replays_as_unknown(server: Server) -> None:
    host, fan, stranger = await members(server, "host", "fan", "stranger")
    admin = await member(server, "root", admin=True)
    _, replay_id = await recorded_room(server, host)
    await fan.client.request("POST", "/users/host/follow")
    ok(await host.http.patch(f"/replays/{replay_id}", json={"access": "followers"}))
    ok(await fan.http.get(f"/replays/{replay_id}"))
    assert_error(await stranger.http.get(f"/replays/{replay_id}"), 404, "replay_not_found")
    assert_error(await stranger.http.get(f"/replays/{replay_id}/audio.ogg"), 404)
    assert [r["id"] for r in ok(await fan.http.get("/users/host/replays"))] == [replay_id]
    assert ok(await stranger.http.get("/users/host/replays")) == []
    ok(await host.http.patch(f"/replays/{replay_id}", json={"access": "host"}))
    assert_error(await fan.http.get(f"/replays/{replay_id}"), 404)
    ok(await admin.http.get(f"/replays/{replay_id}"))
    assert (await host.http.get(f"/replays/{replay_id}/audio.ogg")).status_code == 200


async def test_clips_of_a_replay_and_who_may_delete_them(server: Server) -> None:
    host, speaker, fan, other = await members(server, "host", "speaker", "fan", "other")
    _, replay_id = await recorded_room(server, host, speaker)
    url = f"/replays/{replay_id}/clips"
    assert_error(await fan.http.post(url, json={"start_ms": 3000, "end_ms": 5000}), 422,
                 "invalid_range")
    assert_error(await fan.http.post(url, json={"start_ms": 2000, "end_ms": 1000}), 422)
    assert_error(await fan.http.post(url, json={"start_ms": -1, "end_ms": 1000}), 422)
    clip = ok(await fan.http.post(url, json={"start_ms": 2500, "end_ms": 3500,
                                             "title": " Best  bit "}), 201)
    assert clip["title"] == "Best bit" and clip["duration_ms"] == 1000
    assert clip["page_url"] == f"/clips/{clip['id']}" and clip["creator"]["username"] == "fan"
    assert [s["username"] for s in clip["speakers"]] == ["speaker"]
    audio = decode_ogg(await other.client.clip_audio(clip["id"]))
    assert abs(len(audio) / RATE - 1.0) <= 0.05 and abs(dominant(audio[2400:]) - 880) <= 5
    assert [c["id"] for c in ok(await other.http.get("/users/speaker/clips"))] == [clip["id"]]
    assert [c["id"] for c in ok(await other.http.get("/users/fan/clips"))] == [clip["id"]]
    assert_error(await other.http.delete(f"/clips/{clip['id']}"), 403)
    ok(await speaker.http.delete(f"/clips/{clip['id']}"))  # heard in it
    assert_error(await fan.http.get(f"/clips/{clip['id']}"), 404)
    again = ok(await fan.http.post(url, json={"start_ms": 0, "end_ms": 1000}), 201)
    ok(await fan.http.delete(f"/clips/{again['id']}"))  # its creator


async def test_a_clip_over_60_seconds_is_refused(server: Server) -> None:
    host = await member(server, "host")
    room = ok(await host.http.post("/rooms", json={"title": "Long", "record": True}), 201)
    await join_http(host, room["id"])
    feed(server, room["id"], tone_packets(440, 62.0))
    ok(await act(host, room["id"], "end"))
    replay = ok(await host.http.get(f"/rooms/{room['id']}/replay"))
    assert_error(await host.http.post(f"/replays/{replay['id']}/clips",
                                      json={"start_ms": 0, "end_ms": 60_001}), 422,
                 "clip_too_long")
    ok(await host.http.post(f"/replays/{replay['id']}/clips",
                            json={"start_ms": 1, "end_ms": 60_001}), 201)


async def test_a_live_clip_needs_a_recorded_room_you_are_in(server: Server) -> None:
    host, guest, outsider = await members(server, "host", "guest", "outsider")
    room = ok(await host.http.post("/rooms", json={"title": "Plain"}), 201)
    rid = room["id"]
    await join_http(host, rid)
    await join_http(guest, rid)
    assert_error(await guest.http.post(f"/rooms/{rid}/clips", json={}), 409, "not_recording")
    ok(await host.http.post(f"/rooms/{rid}/recording", json={"on": True}))
    feed(server, rid, tone_packets(440, 2.0))
    assert_error(await outsider.http.post(f"/rooms/{rid}/clips", json={}), 403)
    clip = ok(await guest.http.post(f"/rooms/{rid}/clips", json={"title": "Now"}), 201)
    assert clip["end_ms"] >= 1900 and clip["start_ms"] == 0


async def test_recording_is_refused_on_the_janus_engine(server: Server) -> None:
    """The Janus engine cannot hand over packets yet: its own refusal becomes a 409. (Its
    start_recording raises before any I/O, so an engine that was never started will do.)"""
    from podium.config import Settings
    from podium.media.janus.engine import JanusEngine

    janus = JanusEngine(Settings(secret_key="x", media_engine="janus",
                                 janus_instances=["http://127.0.0.1:9/janus|secret"]))
    server.services.recordings.media = janus
    host = await member(server, "host")
    body = assert_error(await host.http.post("/rooms", json={"title": "J", "record": True}),
                        409, "recording_unsupported")
    assert "Janus" in body["message"]
    room = ok(await host.http.post("/rooms", json={"title": "J"}), 201)
    assert_error(await host.http.post(f"/rooms/{room['id']}/recording", json={"on": True}),
                 409, "recording_unsupported")
    assert ok(await host.http.get(f"/rooms/{room['id']}"))["recording"] is False


async def test_a_pause_is_left_out_and_stage_changes_become_chapters(server: Server) -> None:
    host, guest = await members(server, "host", "guest")
    room = ok(await host.http.post("/rooms", json={"title": "Paused", "record": True}), 201)
    rid = room["id"]
    await join_http(host, rid)
    await join_http(guest, rid)
    feed(server, rid, tone_packets(440, 1.0))
    ok(await act(host, rid, "speakers", user_id=guest.id))
    ok(await act(guest, rid, "invitation/accept"))
    ok(await host.http.post(f"/rooms/{rid}/recording", json={"on": False}))
    recorder = server.services.recordings.active[rid].recorder
    paused_at = recorder.position_samples()
    ok(await host.http.post(f"/rooms/{rid}/recording", json={"on": True}))
    feed(server, rid, tone_packets(660, 1.0))  # the engine's clock goes on from before
    ok(await act(host, rid, "end"))
    replay = ok(await host.http.get(f"/rooms/{rid}/replay"))
    titles = [c["title"] for c in replay["chapters"]]
    assert any("Guest joined the stage" in t for t in titles), titles
    audio = decode_ogg(await host.client.replay_audio(replay["id"]))
    paused_s = paused_at / RATE
    assert hears(window(audio, 0.1, 0.9), 440)
    # The 660 Hz second follows the pause point at once: the paused time is not in the file.
    assert abs(dominant(window(audio, paused_s + 0.1, paused_s + 0.9)) - 660) <= 5
