"""Live captions through the whole server: espeak-ng speech from an aiortc speaker, a room with
captions on, caption events heard by a listener, their word error rate, the WebVTT file; and
a speaker who did not opt in is never captioned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium.captions.vtt import read_cues, vtt_path_for_room
from podium.captions.wer import wer
from podium.cli.bot import connect_audio
from tests.captions.speech import TEXTS, speak
from tests.conftest import Server

pytestmark = [pytest.mark.media, pytest.mark.timeout(240)]
MAX_WER = 0.40


@pytest.fixture(params=["sqlite"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)  # captions do not depend on the database backend


def captions_of(rt: Any, user_id: int) -> list[dict[str, Any]]:
    return [f["event"] for f in rt.events if f["type"] == "event"
            and f["event"]["type"] == "caption" and f["event"]["user_id"] == user_id]


async def test_consenting_speaker_is_captioned_within_the_error_budget(
        server: Server, tmp_path: Path, record_property: Any) -> None:
    spoken = " ".join(TEXTS[:2])
    seconds = speak(spoken, tmp_path / "host.wav")
    speak(TEXTS[3], tmp_path / "guest.wav")

    host = await server.user("host")
    guest = await server.user("guest")
    ear = await server.user("ear")
    await host.set_caption_consent(True)  # the guest never opts in
    room = await host.create_room("Captioned")
    room_id = room["id"]
    host_rt, guest_rt, ear_rt = (await host.connect(), await guest.connect(),
                                 await ear.connect())
    for rt in (host_rt, guest_rt, ear_rt):
        await rt.join(room_id)
    # The guest goes on stage: heard, but did not consent.
    await guest_rt.send("raise_hand")
    await host_rt.wait_for(lambda: len(host_rt.room["hands"]) == 1)
    await host_rt.send("invite_to_speak", user_id=guest_rt.user["id"])
    await guest_rt.wait_for(lambda: guest_rt.room["me"]["invited"])
    await guest_rt.send("accept_invite")
    await ear_rt.wait_event("role_changed", match=lambda e: e["role"] == "speaker")

    assert (await host.set_captions(room_id, True)) == {"captions": True}
    await ear_rt.wait_event("captions_changed", match=lambda e: e["captions"] is True)
    assert ear_rt.room["captions"] is True
    captioner = server.services.captions.captioner
    assert captioner is not None
    engine = await captioner.ready()
    assert engine == "whisper-tiny.en"

    host_peer = await connect_audio(host_rt)
    guest_peer = await connect_audio(guest_rt)
    host_id, guest_id = host_rt.user["id"], guest_rt.user["id"]
    try:
        host_peer.play_file(str(tmp_path / "host.wav"), loop=False)
        guest_peer.play_file(str(tmp_path / "guest.wav"), loop=False)
        # Until the recogniser has dealt with all of the speech (the files end in silence,
        # which closes the last chunk) and the listener has every caption it sent.
        await captioner.wait(lambda: captioner.stats.audio_seconds >= seconds * 0.8
                             and captioner.idle(), timeout=120)
        assert captioner.stats.dropped == 0
        await ear_rt.wait_for(lambda: len(captions_of(ear_rt, host_id))
                              == captioner.stats.captions, timeout=20)
    finally:
        await host_peer.close()
        await guest_peer.close()

    lines = captions_of(ear_rt, host_id)
    heard = " ".join(e["text"] for e in sorted(lines, key=lambda e: e["start_ms"]))
    error = wer(spoken, heard)
    record_property("caption_wer", round(error, 3))
    print(f"\ncaption WER {error:.1%} over {len(lines)} captions: {heard!r}")
    assert error <= MAX_WER, f"WER {error:.1%} above {MAX_WER:.0%}: {heard!r}"
    assert all(e["name"] == "Host" and e["final"] is True for e in lines)
    assert all(0 <= e["start_ms"] < e["end_ms"] for e in lines)
    assert captions_of(ear_rt, guest_id) == [], "a speaker who did not opt in was captioned"

    cues = read_cues(vtt_path_for_room(server.settings, room_id))
    assert [q.text for q in cues] == [e["text"] for e in lines]
    assert {q.speaker for q in cues} == {"Host"}


async def test_captions_are_the_hosts_switch(server: Server) -> None:
    host = await server.user("host")
    other = await server.user("other")
    room = await host.create_room("Quiet")
    other_rt = await other.connect()
    await other_rt.join(room["id"])
    with pytest.raises(Exception, match="host") as refused:
        await other.set_captions(room["id"], True)
    assert getattr(refused.value, "status", None) == 403
    bad = await host.http.post(f"/rooms/{room['id']}/captions", json={"on": "yes"})
    assert bad.status_code == 422
    assert (await host.set_captions(room["id"], False)) == {"captions": False}
    me = await host.request("PATCH", "/profile", json={"captions": True})
    assert me["captions"] is True
    assert "captions" not in await other.request("GET", "/users/host/profile")
