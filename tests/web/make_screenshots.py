"""Screenshots of the hallway and of a room with a full stage, at 375 px and 1280 px.

    unshare -n sh -c 'ip link set lo up && /tmp/venv/bin/python tests/web/make_screenshots.py'

writes docs/screenshots/{hallway,room,profile,notifications,replay,clip}-{375,1280}[-dark].png.
The live room is recorded (its REC badge shows in the hallway and the room).
``test_screenshots`` runs the same code into a temporary folder.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "src"))

from podium.domain import commands as c  # noqa: E402
from tests.web.conftest import BASE_ARGS, CHROMIUM, new_page, sign_in, tone_wav, wait_state  # noqa: E402
from tests.web.replay_screens import finished_replay  # noqa: E402
from tests.web.test_social import png  # noqa: E402

SPEAKERS = [("maya", "Maya Okafor"), ("li", "Li Wei"), ("sam", "Sam Rivera"),
            ("noor", "Noor Haddad"), ("jonas", "Jonas Berg"), ("ines", "Inês Costa"),
            ("tom", "Tom Baker")]
LISTENERS = ["Priya Natarajan", "Oskar Lind", "Aiko Tanaka", "Lucas Moreau", "Zara Ahmed",
             "Felix Wagner", "Hana Kim", "Diego Alvarez", "Emma Clarke", "Yusuf Demir",
             "Sofia Rossi", "Kwame Mensah", "Nina Petrova", "Ravi Shah", "Clara Jensen",
             "Mateo Silva", "Leila Farah", "Owen Hughes", "Mei Chen", "Ivan Horvat",
             "Amara Obi", "Jakob Novak", "Lea Müller", "Sven Olsen", "Tariq Aziz"]


async def populate(server: Any) -> str:
    """Rooms in the hallway, and a full stage in the one the screenshots look into."""
    accounts, rooms = server.services.accounts, server.services.rooms
    host = await accounts.create_user("ada", "Ada Lovelace", "password-ada")
    people = {u: await accounts.create_user(u, n, "password-" + u) for u, n in SPEAKERS}
    live = await rooms.create(host, "Building audio apps in Python",
                              "WebRTC, Opus and a mixer in one process. Bring questions!", "open",
                              recording=True)
    await rooms.join(live.room_id, host, None)
    for i, (username, _) in enumerate(SPEAKERS):
        account = people[username]
        await rooms.join(live.room_id, account, None)
        await rooms.execute(live.room_id, c.InviteToSpeak(host.id, account.id))
        await rooms.execute(live.room_id, c.AcceptInvite(account.id))
        if i == 1:
            await rooms.execute(live.room_id, c.MakeModerator(host.id, account.id))
        if i in (3, 5):
            await rooms.execute(live.room_id, c.SetMuted(account.id, True))
    for i, name in enumerate(LISTENERS):
        account = await accounts.create_user(f"listener{i}", name, f"password-listener{i}")
        await rooms.join(live.room_id, account, None)
        if i in (2, 7, 11):
            await rooms.execute(live.room_id, c.RaiseHand(account.id))
    others = [("Morning standup for night owls", "", "open", ["li", "sam"]),
              ("Jazz listening club", "Tonight: Kind of Blue, side A.", "open", ["noor"]),
              ("Design critique", "Closed session for the design team.", "closed",
               ["jonas", "ines", "tom"])]
    for title, desc, kind, hosts in others:
        first = people[hosts[0]]
        room = await rooms.create(first, title, desc, kind)
        await rooms.join(room.room_id, first, None)
        if kind == "closed":
            await rooms.execute(room.room_id, c.AllowUser(first.id, host.id))
        for username in hosts[1:]:
            if kind == "closed":
                await rooms.execute(room.room_id, c.AllowUser(first.id, people[username].id))
            await rooms.join(room.room_id, people[username], None)
            await rooms.execute(room.room_id, c.InviteToSpeak(first.id, people[username].id))
            await rooms.execute(room.room_id, c.AcceptInvite(people[username].id))
        for i in range(len(title) % 5 + 2):
            listener = await accounts.by_username(f"listener{i}")
            if kind == "closed":
                await rooms.execute(room.room_id, c.AllowUser(first.id, listener.id))
            await rooms.join(room.room_id, listener, None)
    await social(server, host, people)
    await asyncio.sleep(0.2)  # let the coalesced audience batches go out before snapshots
    return str(live.room_id)


async def social(server: Any, host: Any, people: dict[str, Any]) -> None:
    """Follows, a profile with a picture and a bio, an event, notifications for ada."""
    community = server.services.community
    li = people["li"]
    await community.profiles.update(li, None, "Backend engineer in Lisbon. Morning person, "
                                    "reluctantly. Talks about queues, Postgres and bread.")
    await community.profiles.set_avatar(li, png(96, 96, (70, 130, 200)))
    await community.social.follow(host, "li")
    for username in ("li", "sam", "noor", "maya"):
        await community.social.follow(people[username], "ada")
    for i in range(4):
        listener = await server.services.accounts.by_username(f"listener{i}")
        await community.social.follow(listener, "li")
    start = datetime.fromtimestamp(server.clock.now() + 2 * 86400, UTC)
    await community.events.create(li, "Queues at scale: office hours", "Bring your backlog.",
                                  start, "Europe/Lisbon", ["sam"], "open")
    standup = next(live for live in server.services.rooms.rooms.values()
                   if live.info.title.startswith("Morning standup"))
    await community.social.ping(standup.room_id, li, host.id)


async def shoot_whole(page: Any, path: Path, width: int) -> None:
    """The whole page, with the viewport as tall as the page so the sticky controls sit last."""
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.set_viewport_size({"width": width, "height": int(height)})
    await page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    await page.screenshot(path=str(path))


async def shoot_replay(page: Any, out: Path, width: int, height: int, suffix: str,
                       replay_id: str, clip_id: str) -> list[Path]:
    """The replay page at Li's turn (a transcript line highlighted), then the clip's page."""
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(f"/replays/{replay_id}?t=26000")
    await page.locator(".cue.is-current").wait_for()
    await page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    replay = out / f"replay-{width}{suffix}.png"
    await shoot_whole(page, replay, width)
    await page.set_viewport_size({"width": width, "height": height})
    await page.goto(f"/clips/{clip_id}")
    await page.locator(".clip-card .speaker-chip").first.wait_for()
    await page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
    clip = out / f"clip-{width}{suffix}.png"
    await shoot_whole(page, clip, width)
    return [replay, clip]


async def capture(server: Any, pw: Any, out: Path, tmp: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before any browser
    room_id = await populate(server)
    by_name = server.services.accounts.by_username
    replay_id, clip_id = await finished_replay(
        server, await by_name("ada"), {u: await by_name(u) for u in ("maya", "li", "sam")})
    wav = tone_wav(tmp / "screens-440.wav", 440)
    args = [*BASE_ARGS, f"--use-file-for-fake-audio-capture={wav}"]
    browser = await pw.chromium.launch(executable_path=CHROMIUM, args=args)
    written: list[Path] = []
    try:
        for scheme in ("light", "dark"):
            suffix = "" if scheme == "light" else "-dark"
            for width, height in ((375, 812), (1280, 860)):
                page = await new_page(browser, server, width, height, scheme)
                await sign_in(page, "ada")
                await page.locator(".room-card").nth(3).wait_for()
                path = out / f"hallway-{width}{suffix}.png"
                await shoot_whole(page, path, width)
                written.append(path)
                await page.set_viewport_size({"width": width, "height": height})
                await page.goto(f"/room/{room_id}")
                await wait_state(page, role="moderator", media="connected")
                await page.locator(".hand-row").nth(2).wait_for()
                live = server.services.rooms.rooms[room_id]
                speaking = [m.user_id for m in live.state.stage[:3:2]]
                # Show these two as speaking. Sent straight to the room, not through the engine's
                # callback: the browser's own fake microphone keeps the engine reporting levels,
                # and its rate-limited updates would race this one.
                rooms = server.services.rooms
                async with rooms._writing(live):
                    rooms._send(live, {"type": "speaking", "user_ids": speaking})
                await page.locator(".member.is-speaking").nth(1).wait_for()
                await page.evaluate("document.activeElement && document.activeElement.blur()")
                path = out / f"room-{width}{suffix}.png"
                await shoot_whole(page, path, width)
                written.append(path)
                await page.set_viewport_size({"width": width, "height": height})
                await page.goto("/u/li")
                await page.locator(".event-card").wait_for()
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('.profile-card img')]"
                    ".every((i) => i.complete && i.naturalWidth > 0)")
                path = out / f"profile-{width}{suffix}.png"
                await shoot_whole(page, path, width)
                written.append(path)
                await page.set_viewport_size({"width": width, "height": height})
                await page.get_by_role("button", name="Notifications, 5 unread").click()
                await page.locator(".notif-panel .notif").nth(4).wait_for()
                await page.evaluate("document.activeElement && document.activeElement.blur()")
                path = out / f"notifications-{width}{suffix}.png"
                await page.screenshot(path=str(path))
                written.append(path)
                await page.keyboard.press("Escape")
                written += await shoot_replay(page, out, width, height, suffix, replay_id, clip_id)
                await page.context.close()
    finally:
        await browser.close()
    return written


async def main() -> None:
    from playwright.async_api import async_playwright

    from tests.conftest import run_server

    out = ROOT / "docs" / "screenshots"
    with tempfile.TemporaryDirectory() as tmp:
        async with run_server(Path(tmp)) as server, async_playwright() as pw:
            for path in await capture(server, pw, out, Path(tmp)):
                print(path.relative_to(ROOT))


if __name__ == "__main__":
    asyncio.run(main())
