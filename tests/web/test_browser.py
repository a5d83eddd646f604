"""The browser client end to end: sign-up, hallway, listening, the stage, reconnecting."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.web.conftest import new_page, sign_in, wait_heard, wait_silent, wait_state

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss=1">'
HOST_TONE, GUEST_TONE = 440.0, 660.0
BOB_ON_STAGE = re.compile(r"^Bob Listener, Speaker\. Options")


async def start_room(page: Any, title: str, description: str = "") -> str:
    """Start a room from the hallway; returns its id once the host's audio is connected."""
    await page.get_by_role("button", name="Start a room").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Title").fill(title)
    if description:
        await dialog.get_by_label("Description").fill(description)
    await dialog.get_by_role("button", name="Start room").click()
    await page.wait_for_url(re.compile(r"/room/[A-Za-z0-9_-]+$"))
    await wait_state(page, role="moderator", media="connected")
    return str(page.url.rsplit("/", 1)[1])


async def listen(page: Any) -> None:
    """Wait for audio; tap "Tap to listen" if the browser blocked autoplay."""
    await wait_state(page, media="connected")
    tap = page.get_by_role("button", name="Tap to listen")
    if await page.evaluate("podiumDebug.state().autoplayBlocked"):
        await tap.click()
    await wait_state(page, autoplayBlocked=False)


async def host_and_guest(server: Any, launch: Any, title: str = "Tuning") -> tuple[Any, Any, str]:
    """ada hosts a room (440 Hz microphone); bob (660 Hz) joins it as a listener."""
    accounts = server.services.accounts
    await accounts.create_user("ada", "Ada Lovelace", "password-ada")
    await accounts.create_user("bob", "Bob Listener", "password-bob")
    host = await new_page(await launch(tone=HOST_TONE), server)
    guest = await new_page(await launch(tone=GUEST_TONE), server)
    await sign_in(host, "ada")
    room_id = await start_room(host, title)
    await sign_in(guest, "bob")
    await guest.locator(".room-card", has_text=title).click()
    await wait_state(guest, role="listener", room=room_id)
    await listen(guest)
    return host, guest, room_id


async def test_sign_up_start_room_and_listen(make_server: Any, launch: Any) -> None:
    async with make_server() as server:
        accounts = server.services.accounts
        ada = await accounts.create_user("ada", "Ada Lovelace", "password-ada")
        _, code = await accounts.create_invite(ada)
        await accounts.create_user("bob", "Bob Listener", "password-bob")

        host = await new_page(await launch(tone=HOST_TONE), server)
        await host.goto(f"/invite/{code}")
        await expect(host.get_by_text("invited you")).to_be_visible()
        await host.get_by_label("Display name").fill("Grace " + XSS)
        await host.get_by_label("Username").fill("grace")
        await host.get_by_label("Password").fill("correct horse battery")
        await host.get_by_role("button", name="Create account").click()
        await expect(host.get_by_role("heading", name="Hallway")).to_be_visible()
        title = "Tuning " + XSS
        room_id = await start_room(host, title, "A steady 440 Hz " + XSS)
        await expect(host.get_by_role("heading", name=title)).to_be_visible()

        guest = await new_page(await launch(tone=GUEST_TONE), server)
        await sign_in(guest, "bob")
        card = guest.locator(".room-card", has_text="Tuning")
        await expect(card).to_be_visible()
        # User text is text: the markup shows literally and no element is made from it.
        await expect(card).to_contain_text(title)
        await expect(card).to_contain_text("Grace " + XSS)
        assert await guest.locator("main img").count() == 0
        await card.click()
        await wait_state(guest, role="listener", room=room_id)
        await listen(guest)
        heard = await wait_heard(guest, HOST_TONE)
        assert abs(heard - HOST_TONE) <= 10, heard

        # Both see each other: the host on stage, bob counted in the audience.
        await expect(guest.get_by_role("list", name="On stage")).to_contain_text("Grace " + XSS)
        await expect(host.locator("#aud-h")).to_contain_text("1")
        for page in (host, guest):
            assert await page.evaluate("window.__xss") is None
            assert await page.locator("img").count() == 0
            assert page.js_errors == []


async def test_auth_errors_and_live_hallway(make_server: Any, launch: Any) -> None:
    async with make_server() as server:
        accounts = server.services.accounts
        ada = await accounts.create_user("ada", "Ada Lovelace", "password-ada")
        _, code = await accounts.create_invite(ada)
        browser = await launch()

        page = await new_page(browser, server)
        await page.goto("/invite/not-a-real-code")
        await expect(page.get_by_role("alert")).to_have_text("That invite link is not valid.")

        await page.goto(f"/invite/{code}")
        await page.get_by_label("Display name").fill("Second Ada")
        await page.get_by_label("Username").fill("ada")
        await page.get_by_label("Password").fill("password-long")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.get_by_role("alert")).to_have_text("That username is taken.")

        await page.goto("/signin")
        await page.get_by_label("Username").fill("ada")
        await page.get_by_label("Password").fill("wrong-password")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")

        # Invites page: create one, see it listed; a used one shows who used it.
        await page.get_by_label("Password").fill("password-ada")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("link", name="Invites").click()
        await page.get_by_role("button", name="Create invite link").click()
        link = page.get_by_label("New invite link")
        await expect(link).to_have_value(re.compile(r"/invite/"))
        new_code = (await link.input_value()).rsplit("/", 1)[1]
        await accounts.sign_up(new_code, "carol", "Carol", "password-carol")
        await page.reload()
        await expect(page.get_by_text("Used by @carol")).to_be_visible()

        # A used invite says so.
        other = await new_page(browser, server)
        await other.goto(f"/invite/{new_code}")
        await expect(other.get_by_role("alert")).to_have_text("That invite has already been used.")

        # The hallway updates live: a room appears, its counts change, it goes when it ends.
        await page.get_by_role("link", name="Hallway", exact=True).click()
        await expect(page.get_by_text("It's quiet in here")).to_be_visible()
        carol = await accounts.by_username("carol")
        live = await server.services.rooms.create(carol, "Carol's corner", "", "open")
        card = page.locator(".room-card", has_text="Carol's corner")
        await expect(card).to_be_visible()
        await server.services.rooms.join(live.room_id, carol, None)
        await expect(card).to_contain_text("Carol")
        dave = await accounts.create_user("dave", "Dave", "password-dave")
        await server.services.rooms.join(live.room_id, dave, None)
        # Audience-only changes reach the hallway with the once-a-second ticker (not run here).
        count = card.locator(".listener-count")
        deadline = asyncio.get_running_loop().time() + 10
        while await count.inner_text() != "1":
            assert asyncio.get_running_loop().time() < deadline, "listener count never updated"
            await server.services.rooms.tick()
            await asyncio.sleep(0.2)  # poll: the ticker rate-limits summaries to one a second
        from podium.domain import commands as c

        await server.services.rooms.execute(live.room_id, c.EndRoom(carol.id))
        await expect(card).to_have_count(0)
        assert page.js_errors == []


async def test_hand_invite_speak_mute_and_move_back(make_server: Any, launch: Any) -> None:
    async with make_server() as server:
        host, guest, _ = await host_and_guest(server, launch)
        await wait_heard(guest, HOST_TONE)

        # bob raises a hand; ada sees it in the queue and invites him.
        await guest.get_by_role("button", name="Raise hand").click()
        lower = guest.get_by_role("button", name="Lower hand")
        await expect(lower).to_have_attribute("aria-pressed", "true")
        hands = host.get_by_role("region", name=re.compile("Raised hands"))
        await expect(hands).to_contain_text("Bob Listener")
        await host.get_by_role("button", name="Invite Bob Listener to speak").click()

        # bob accepts: the microphone is asked for only now, and ada hears his tone.
        assert (await guest.evaluate("podiumDebug.state()"))["micLive"] is False
        prompt = guest.get_by_role("dialog", name="Invitation to speak")
        await prompt.get_by_role("button", name="Join the stage").click()
        await wait_state(guest, role="speaker", micLive=True)
        await expect(host.get_by_role("list", name="On stage")).to_contain_text("Bob Listener")
        heard = await wait_heard(host, GUEST_TONE)
        assert abs(heard - GUEST_TONE) <= 10, heard
        await expect(hands).to_contain_text("No hands raised")

        # ada mutes him: he is heard no more, and his own page shows it and stops the track.
        await host.get_by_role("button", name=BOB_ON_STAGE).click()
        await host.get_by_role("dialog").get_by_role("button", name="Mute").click()
        await wait_state(guest, muted=True, micLive=False)
        await expect(guest.get_by_role("button", name="Unmute")).to_be_visible()
        await wait_silent(host, GUEST_TONE)

        # He unmutes himself and is heard again.
        await guest.get_by_role("button", name="Unmute").click()
        await wait_state(guest, muted=False, micLive=True)
        await wait_heard(host, GUEST_TONE)

        # ada moves him back to the audience: heard no more, microphone released.
        await host.get_by_role("button", name=BOB_ON_STAGE).click()
        await host.get_by_role("dialog").get_by_role("button", name="Move to audience").click()
        await wait_state(guest, role="listener", micLive=False)
        await expect(guest.get_by_role("button", name="Raise hand")).to_be_visible()
        await wait_silent(host, GUEST_TONE)
        # ...and, back in the audience, he still hears ada.
        await wait_heard(guest, HOST_TONE)
        assert host.js_errors == [] and guest.js_errors == []


async def test_speaker_reconnects_in_the_same_role(make_server: Any, launch: Any) -> None:
    async with make_server() as server:
        host, guest, room_id = await host_and_guest(server, launch)
        # The host can invite straight from the audience.
        await host.get_by_role("button", name="Bob Listener. Options").click()
        await host.get_by_role("dialog").get_by_role("button", name="Invite to speak").click()
        await guest.get_by_role("dialog", name="Invitation to speak").get_by_role(
            "button", name="Join the stage").click()
        await wait_state(guest, role="speaker", micLive=True)
        await wait_heard(host, GUEST_TONE)

        # The network drops: the page says so and keeps trying.
        await guest.context.set_offline(True)
        await guest.evaluate("podiumDebug.dropConnection()")
        banner = guest.get_by_role("status").filter(has_text="reconnecting")
        await expect(banner).to_be_visible()
        await wait_state(guest, connection="reconnecting")
        # Something happens meanwhile: the host mutes the speaker.
        await host.get_by_role("button", name=BOB_ON_STAGE).click()
        await host.get_by_role("dialog").get_by_role("button", name="Mute").click()

        # Back online: the same session resumes, in the same role, with what was missed.
        await guest.context.set_offline(False)
        await wait_state(guest, connection="open", role="speaker", room=room_id, muted=True)
        await expect(banner).to_be_hidden()
        await expect(guest.get_by_role("button", name="Unmute")).to_be_visible()
        await guest.get_by_role("button", name="Unmute").click()
        await wait_heard(host, GUEST_TONE)
        assert guest.url.endswith(f"/room/{room_id}")
        assert host.js_errors == [] and guest.js_errors == []
