"""Replays in the browser: a room recorded from two real WebRTC speakers taking turns, then a
listener's Chromium skipping from speaker to speaker with the transcript following."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from podium.cli.bot import connect_audio
from podium.media.analysis import tone_wav
from podium.services.replays import replay_transcript_path
from podium.storage.tables import Replay
from tests.web.conftest import new_page, sign_in, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.media]
TURN_MS = 1500  # how long each turn lasts in the recording
NEAR_MS = 250  # as js/player.js: a turn starting this close to "now" is the current one


async def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll a server-side condition no event announces (how long a recorded turn has lasted)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)


async def record_two_speakers(server: Any, tmp_path: Path) -> dict[str, Any]:
    """A recorded room where Ada, Bob, then Ada again speak (real aiortc peers, real tones);
    it ends, and its replay is what the recording service made of it."""
    ada, bob = await server.user("ada"), await server.user("bob")
    room = await ada.create_room("Two voices", record=True)
    room_id = room["id"]
    ada_rt, bob_rt = await ada.connect(), await bob.connect()
    await ada_rt.join(room_id)
    await bob_rt.join(room_id)
    await ada_rt.send("invite_to_speak", user_id=bob_rt.user["id"])
    await bob_rt.wait_for(lambda: bob_rt.room["me"]["invited"])
    await bob_rt.send("accept_invite")
    await bob_rt.wait_for(lambda: bob_rt.my_role() == "speaker")
    peers = {"ada": await connect_audio(ada_rt), "bob": await connect_audio(bob_rt)}
    ids = {"ada": ada_rt.user["id"], "bob": bob_rt.user["id"]}
    tones = {"ada": str(tmp_path / "ada.wav"), "bob": str(tmp_path / "bob.wav")}
    tone_wav(tones["ada"], 440, 2.0)
    tone_wav(tones["bob"], 660, 2.0)
    active = server.services.recordings.active[room_id]

    def spoke_for(user_id: int) -> int:
        timeline, _ = active.marks()
        mine = [e for e in timeline if e["user_id"] == user_id]
        return int(mine[-1]["end_ms"]) - int(mine[-1]["start_ms"]) if mine else 0

    async def turn(who: str, turn_number: int) -> None:
        peers[who].play_file(tones[who])
        await ada_rt.wait_for(lambda: ada_rt.room["speaking"] == [ids[who]])
        await until(lambda: spoke_for(ids[who]) >= TURN_MS and len(
            [e for e in active.marks()[0] if e["user_id"] == ids[who]]) >= turn_number,
            f"{who}'s turn {turn_number} in the recording")
        peers[who].stop_playing()
        await ada_rt.wait_for(lambda: ids[who] not in ada_rt.room["speaking"])

    try:
        await turn("ada", 1)
        await turn("bob", 1)
        await turn("ada", 2)
        await ada_rt.send("end_room")
        replay_id = active.replay_id
        await until(lambda: room_id not in server.services.recordings.active, "the recording's end")
    finally:
        for peer in peers.values():
            await peer.close()
        for rt in (ada_rt, bob_rt):
            await rt.close()
    return await ada.replay(replay_id)


def names(replay: dict[str, Any]) -> dict[int, str]:
    return {int(s["id"]): str(s["display_name"]) for s in replay["speakers"]}


def stamp(ms: int) -> str:
    """A WebVTT timestamp."""
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


async def write_transcript(server: Any, replay: dict[str, Any]) -> list[dict[str, Any]]:
    """A WebVTT transcript where the replay's service looks for it: one `<v Speaker>` cue per
    timeline entry. (Captions are recognised from speech; these tones have no words, so the
    cues are written here, timed to what the recording heard.)"""
    who = names(replay)
    cues = [{"start_ms": e["start_ms"], "end_ms": e["end_ms"], "name": who[e["user_id"]],
             "text": f"{who[e['user_id']]} speaks, part {i + 1}."}
            for i, e in enumerate(replay["timeline"])]
    text = "WEBVTT\n\n" + "\n".join(
        f"{stamp(c['start_ms'])} --> {stamp(c['end_ms'])}\n<v {c['name']}>{c['text']}\n"
        for c in cues)
    async with server.services.db.transaction() as s:
        row = await s.get(Replay, replay["id"])
    assert row is not None
    path = replay_transcript_path(server.services.recordings, row)
    await asyncio.to_thread(path.write_text, text, "utf-8")
    return cues


def turns(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive entries by the same person are one turn (as js/player.js)."""
    out: list[dict[str, Any]] = []
    for e in sorted(timeline, key=lambda e: e["start_ms"]):
        if out and out[-1]["user_id"] == e["user_id"]:
            out[-1]["end_ms"] = max(out[-1]["end_ms"], e["end_ms"])
        else:
            out.append(dict(e))
    return out


async def position_ms(page: Any) -> float:
    return float(await page.evaluate("document.querySelector('audio').currentTime * 1000"))


async def test_listener_skips_to_the_next_speaker_and_the_transcript_follows(
        make_server: Any, launch: Any, tmp_path: Path) -> None:
    async with make_server() as server:
        replay = await record_two_speakers(server, tmp_path)
        assert replay["ended_at"] is not None and replay["trim_start_ms"] == 0
        speakers = turns(replay["timeline"])
        who = names(replay)
        for t in speakers:
            t["name"] = who[t["user_id"]]
        assert [t["name"] for t in speakers] == ["Ada", "Bob", "Ada"], replay["timeline"]
        cues = await write_transcript(server, replay)
        await server.user("carol")  # a listener: the room was open, the replay is for members

        page = await new_page(await launch(), server)
        await sign_in(page, "carol")
        await page.goto(f"/replays/{replay['id']}")
        await expect(page.get_by_role("heading", name="Two voices", level=1)).to_be_visible()
        await expect(page.locator(".cue")).to_have_count(len(cues))
        # Chromium loaded the recording's Ogg Opus (its metadata at least): the player is usable.
        await page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
        lanes = page.locator(".tl-lane")
        await expect(lanes).to_have_count(2)
        await expect(page.locator(".tl-seg")).to_have_count(len(replay["timeline"]))

        next_button = page.get_by_role("button", name="Next speaker")
        for expected in [t for t in speakers if t["start_ms"] > NEAR_MS]:
            before = await position_ms(page)
            await next_button.click()
            await page.wait_for_function(
                "(b) => document.querySelector('audio').currentTime * 1000 !== b", arg=before)
            now = await position_ms(page)
            assert abs(now - expected["start_ms"]) < 1, (now, expected)
            current = page.locator(".cue.is-current")
            await expect(current).to_have_count(1)
            await expect(current.locator(".cue-speaker")).to_have_text(expected["name"])
            start = float(await current.get_attribute("data-start") or "nan")
            end = float(await current.get_attribute("data-end") or "nan")
            assert start <= now < end, (start, now, end)
            await expect(current).to_have_attribute("aria-current", "true")
            await expect(page.locator(".now-speaking")).to_have_text(
                f"Speaking: {expected['name']}")
        await expect(next_button).to_be_disabled()  # nobody speaks after the last turn

        # Back one speaker (we're at the very start of the last turn), and at 2x.
        await page.get_by_role("button", name="Previous speaker").click()
        await page.wait_for_function(
            "(t) => Math.abs(document.querySelector('audio').currentTime * 1000 - t) < 1",
            arg=speakers[1]["start_ms"])
        await expect(page.locator(".cue.is-current .cue-speaker")).to_have_text("Bob")
        double = page.get_by_role("button", name="Speed 2×")
        await double.click()
        assert await page.evaluate("document.querySelector('audio').playbackRate") == 2
        await expect(double).to_have_attribute("aria-pressed", "true")

        # "Make a clip" starts where the player is (to the second), and lands on the clip.
        start = speakers[1]["start_ms"] // 1000 * 1000
        await expect(page.get_by_label("Start", exact=True)).to_have_value(
            f"{start // 60_000}:{start // 1000 % 60:02d}")
        await page.get_by_label("Title (optional)").fill("Bob's turn")
        await page.get_by_role("button", name="Make the clip").click()
        await page.wait_for_url("**/clips/*")
        clip = await (await server.user("dave")).clip(page.url.rsplit("/", 1)[1])
        assert clip["title"] == "Bob's turn" and clip["start_ms"] == start
        # The end: 30 s on, or the replay's end, as the form shows it (whole seconds).
        assert clip["end_ms"] == min(start + 30_000, replay["duration_ms"] // 1000 * 1000)
        assert "Bob" in [s["display_name"] for s in clip["speakers"]]

        # The host's profile lists the replay.
        await page.goto("/u/ada")
        replays = page.get_by_role("region", name="Replays")
        await expect(replays.get_by_role("link", name="Two voices")).to_have_attribute(
            "href", f"/replays/{replay['id']}")
        assert page.js_errors == []


async def test_recorded_room_says_so_before_audio_then_clips_and_captions(
        make_server: Any, launch: Any, tmp_path: Path) -> None:
    async with make_server() as server:
        ada = await server.user("ada")
        await server.user("carol")
        room = await ada.create_room("On the record", record=True)
        ada_rt = await ada.connect()
        await ada_rt.join(room["id"])
        peer = await connect_audio(ada_rt)
        tone = str(tmp_path / "ada.wav")
        tone_wav(tone, 440, 2.0)
        peer.play_file(tone)
        try:
            page = await new_page(await launch(), server)
            await sign_in(page, "carol")
            card = page.locator(f'.room-card[data-room-id="{room["id"]}"]')
            await expect(card.locator(".rec-badge")).to_be_visible()
            await card.click()
            notice = page.get_by_role("dialog", name="This room is being recorded")
            await expect(notice).to_be_visible()
            await wait_state(page, role="listener")
            # Told first: no audio connection while the notice is up.
            assert await page.evaluate("window.podiumDebug.state().media") == "idle"
            assert server.services.rooms.media.stats().peers == 1  # the host's only
            await notice.get_by_role("button", name="Listen").click()
            await wait_state(page, media="connected")
            assert server.services.rooms.media.stats().peers == 2
            await expect(page.locator(".room-head .rec-badge")).to_be_visible()

            await page.get_by_role("button", name="Clip last 30 s").click()
            link = page.locator(".clip-done a")
            await expect(link).to_be_visible()
            clip_id = (await link.get_attribute("href") or "").rsplit("/", 1)[-1]
            clip = await ada.clip(clip_id)
            assert clip["room_id"] == room["id"] and 0 < clip["duration_ms"] <= 30_000

            # Captions: the host turns them on; a line arrives through the room's own channel.
            await ada.request("POST", f"/rooms/{room['id']}/captions", json={"on": True})
            panel = page.get_by_role("region", name="Live captions")
            await expect(panel).to_be_visible()
            line = {"type": "caption", "user_id": ada_rt.user["id"], "name": "Ada",
                    "start_ms": 1000, "end_ms": 2500}
            await server.services.rooms.broadcast(room["id"], {**line, "text": "hello thr",
                                                               "final": False})
            await expect(panel.locator(".caption-pending")).to_contain_text("hello thr")
            await server.services.rooms.broadcast(room["id"], {**line, "text": "Hello there.",
                                                               "final": True})
            final = panel.get_by_role("log", name="Captions").locator(".caption")
            await expect(final).to_have_count(1)
            await expect(final.locator(".caption-who")).to_have_text("Ada")
            await expect(final.locator(".caption-text")).to_have_text("Hello there.")
            await expect(panel.locator(".caption-pending .caption")).to_have_count(0)

            # The host stops recording: the badge and the clip button go for everyone.
            await ada.set_recording(room["id"], False)
            await expect(page.locator(".room-head .rec-badge")).to_be_hidden()
            await expect(page.get_by_role("button", name="Clip last 30 s")).to_be_hidden()

            # The room ends: its notice offers the replay.
            await ada_rt.send("end_room")
            await expect(page.get_by_role("heading", name="This room has ended")).to_be_visible()
            replay_link = page.get_by_role("link", name="Listen to the replay")
            await expect(replay_link).to_have_attribute("href", f"/replays/{clip['replay_id']}")

            # The clip's page: who is heard, the way back to the replay, delete for its creator.
            await page.goto(f"/clips/{clip_id}")
            await expect(page.get_by_role("list", name="Speakers")).to_contain_text("Ada")
            back = page.get_by_role("link", name="Hear it in the replay")
            await expect(back).to_have_attribute(
                "href", f"/replays/{clip['replay_id']}?t={clip['start_ms']}")
            await page.wait_for_function(
                "() => document.querySelector('audio').readyState >= 1")
            await page.get_by_role("button", name="Delete clip").click()
            await page.get_by_role("dialog").get_by_role("button", name="Delete clip").click()
            await expect(page.get_by_role("heading", name="Carol", level=1)).to_be_visible()
            assert await ada.user_clips("carol") == []
            assert page.js_errors == []
        finally:
            await peer.close()
            await ada_rt.close()
