"""The social layer in the browser: follow, ranked hallway, pings and notifications, profiles
with avatars, events and RSVP, search."""

from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import expect

from tests.web.conftest import new_page, sign_in, wait_state

pytestmark = pytest.mark.browser


def png(width: int = 64, height: int = 48, rgb: tuple[int, int, int] = (220, 80, 40)) -> bytes:
    """A solid-colour PNG, made by hand (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    row = b"\x00" + bytes(rgb) * width
    out = io.BytesIO()
    out.write(b"\x89PNG\r\n\x1a\n")
    out.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
    out.write(chunk(b"IDAT", zlib.compress(row * height)))
    out.write(chunk(b"IEND", b""))
    return out.getvalue()


async def test_follow_ranks_hallway_then_ping_and_join_from_notification(
        make_server: Any, launch: Any) -> None:
    async with make_server() as server:
        accounts, rooms = server.services.accounts, server.services.rooms
        await accounts.create_user("ada", "Ada Lovelace", "password-ada")
        await accounts.create_user("bob", "Bob Listener", "password-bob")
        # A bigger room ranks first while bob follows nobody.
        carol = await accounts.create_user("carol", "Carol Big", "password-carol")
        big = await rooms.create(carol, "The big room", "", "open")
        await rooms.join(big.room_id, carol, None)
        for i in range(3):
            extra = await accounts.create_user(f"extra{i}", f"Extra {i}", f"password-extra{i}")
            await rooms.join(big.room_id, extra, None)

        browser = await launch()
        ada = await new_page(browser, server)
        await sign_in(ada, "ada")
        await ada.get_by_role("button", name="Start a room").click()
        dialog = ada.get_by_role("dialog")
        await dialog.get_by_label("Title").fill("Ada's engine talk")
        await dialog.get_by_text("Social", exact=True).click()  # the three types are offered
        await dialog.get_by_text("Open", exact=True).click()
        await dialog.get_by_role("button", name="Start room").click()
        await ada.wait_for_url(re.compile(r"/room/[A-Za-z0-9_-]+$"))
        await wait_state(ada, role="moderator")
        room_id = ada.url.rsplit("/", 1)[1]

        bob = await new_page(browser, server)
        await sign_in(bob, "bob")
        cards = bob.locator(".room-card")
        await expect(cards.first).to_contain_text("The big room")
        await expect(cards.nth(1)).to_contain_text("Ada's engine talk")
        await expect(bob.locator(".follow-hint")).to_be_hidden()

        # bob finds ada with the header search and follows her from her profile.
        await bob.get_by_role("combobox", name="Search people, rooms and events").fill("ada lov")
        results = bob.get_by_role("region", name="Search results")
        await results.get_by_role("link", name=re.compile("Ada Lovelace")).click()
        await expect(bob.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()
        await expect(bob.get_by_role("link", name="Join Ada's engine talk")).to_be_visible()
        await bob.get_by_role("button", name="Follow Ada Lovelace").click()
        await expect(bob.get_by_role("button", name="Unfollow Ada Lovelace")).to_be_visible()
        notify = bob.get_by_role("switch", name="Notify me when they start or speak")
        await expect(notify).to_be_checked()
        await expect(bob.get_by_role("button", name=re.compile(r"^1 follower$"))).to_be_visible()

        # Back in the hallway, ada's room (she is on stage) has risen to the top.
        await bob.get_by_role("link", name="Hallway", exact=True).click()
        await expect(cards.first).to_contain_text("Ada's engine talk")
        await expect(cards.nth(1)).to_contain_text("The big room")
        await expect(bob.locator(".follow-hint")).to_contain_text(
            "People you follow are speaking: Ada Lovelace")

        # ada pings bob from the room; bob's bell counts it live and he joins from it.
        await ada.get_by_role("button", name="Ping someone").click()
        ping = ada.get_by_role("dialog", name="Ping someone")
        # bob follows ada, so he is offered first
        await expect(ping.get_by_role("button", name="Ping Bob Listener")).to_be_visible()
        await ping.get_by_label("Find someone").fill("bob")
        await ping.get_by_role("button", name="Ping Bob Listener").click()
        await expect(ping.get_by_role("button", name="Pinged Bob Listener")).to_be_visible()
        await ping.get_by_role("button", name="Close").click()

        bell = bob.get_by_role("button", name=re.compile(r"^Notifications"))
        await expect(bell).to_have_attribute("data-unread", "1")
        await expect(bell).to_have_accessible_name("Notifications, 1 unread")
        await bell.click()
        panel = bob.get_by_role("dialog", name="Notifications")
        item = panel.locator(".notif[data-kind=ping]")
        await expect(item).to_contain_text("Ada Lovelace")
        await item.get_by_role("link").click()
        await bob.wait_for_url(re.compile(rf"/room/{room_id}$"))
        await wait_state(bob, role="listener", room=room_id)
        await expect(bell).to_have_attribute("data-unread", "0")
        # Members open profile cards from the stage.
        await bob.get_by_role("button", name=re.compile(r"^Ada Lovelace, Host\. Profile")).click()
        card = bob.get_by_role("dialog", name="Ada Lovelace")
        await expect(card.get_by_role("button", name="Unfollow Ada Lovelace")).to_be_visible()
        await card.get_by_role("button", name="Close").click()
        for page in (ada, bob):
            assert page.js_errors == []


async def test_edit_profile_with_avatar(make_server: Any, launch: Any) -> None:
    async with make_server() as server:
        await server.services.accounts.create_user("bob", "Bob Listener", "password-bob")
        page = await new_page(await launch(), server, 375, 812)
        await sign_in(page, "bob")
        await page.get_by_role("link", name="Your profile, Bob Listener").click()
        await expect(page.get_by_role("heading", name="Bob Listener", level=1)).to_be_visible()
        await page.get_by_role("button", name="Edit profile").click()
        dialog = page.get_by_role("dialog", name="Edit profile")
        bio = dialog.get_by_label("Bio")
        await bio.fill("Listening to engines.")
        await expect(dialog.locator("#bio-count")).to_have_text("21 / 300")

        # Not a picture: the server's message is shown.
        await dialog.locator("input[type=file]").set_input_files(
            files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}])
        alert = dialog.get_by_role("alert").first
        await expect(alert).to_be_visible()
        assert (await alert.inner_text()).strip()
        await dialog.locator("input[type=file]").set_input_files(
            files=[{"name": "me.png", "mimeType": "image/png", "buffer": png()}])
        await expect(dialog.get_by_role("button", name="Remove picture")).to_be_visible()
        await dialog.get_by_label("Display name").fill("Bob the Listener")
        await dialog.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("heading", name="Bob the Listener", level=1)).to_be_visible()
        await expect(page.get_by_text("Listening to engines.")).to_be_visible()
        img = page.locator(".profile-card .avatar img")
        await expect(img).to_have_attribute("src", re.compile(r"/api/v1/users/bob/avatar\?v="))
        await page.wait_for_function(
            "() => { const i = document.querySelector('.profile-card .avatar img');"
            " return i && i.complete && i.naturalWidth === 256; }")
        # The header shows it too.
        await expect(page.locator(".who-link .avatar img")).to_have_count(1)
        assert page.js_errors == []


async def test_plan_event_rsvp_and_search(make_server: Any, launch: Any) -> None:
    async with make_server() as server:
        accounts = server.services.accounts
        await accounts.create_user("ada", "Ada Lovelace", "password-ada")
        await accounts.create_user("bob", "Bob Listener", "password-bob")
        await accounts.create_user("ivan_12", "Ivan Horvat", "password-ivan")
        browser = await launch()
        ada = await new_page(browser, server)
        await sign_in(ada, "ada")
        await ada.get_by_role("link", name="Events").click()
        await expect(ada.get_by_role("heading", name="Upcoming events")).to_be_visible()
        await ada.get_by_role("button", name="Plan an event").click()
        dialog = ada.get_by_role("dialog", name="Plan an event")
        await dialog.get_by_label("Title").fill("Engines, part two")
        await dialog.get_by_label("Description").fill("Bring your questions.")
        # Too far ahead: the server says why.
        await dialog.get_by_label("Date", exact=True).fill("2099-01-01")
        await dialog.get_by_label("Time zone").select_option("Europe/Paris")
        await dialog.get_by_label("Co-hosts").fill("bob")
        await dialog.get_by_role("button", name="Plan event").click()
        await expect(dialog.get_by_role("alert")).not_to_be_empty()
        # The server's clock is a fake one: "tomorrow" is by that clock.
        tomorrow = datetime.fromtimestamp(server.clock.now() + 86400, UTC).date().isoformat()
        await dialog.get_by_label("Date", exact=True).fill(tomorrow)
        await dialog.get_by_label("Time", exact=True).fill("18:30")
        await dialog.get_by_role("button", name="Plan event").click()
        card = ada.locator(".event-card", has_text="Engines, part two")
        await expect(card).to_be_visible()
        await expect(card).to_contain_text("Bob Listener")
        await expect(card).to_contain_text("Europe/Paris")
        await expect(card.get_by_role("link", name=re.compile(r"\.ics"))).to_have_attribute(
            "href", re.compile(r"/api/v1/events/\d+\.ics$"))

        bob = await new_page(browser, server, 375, 812)
        await sign_in(bob, "bob")
        await bob.get_by_role("link", name="Events").click()
        bob_card = bob.locator(".event-card", has_text="Engines, part two")
        rsvp = bob_card.get_by_role("button", name="Notify me")
        await rsvp.click()
        await expect(bob_card.get_by_role("button", name="You'll be notified")).to_have_attribute(
            "aria-pressed", "true")
        await expect(bob_card).to_contain_text("1 person interested")
        # The calendar feed: create a private link.
        await bob.get_by_role("button", name="Create feed link").click()
        feed = bob.get_by_label("Calendar feed link")
        await expect(feed).to_have_value(re.compile(r"/calendar/.+\.ics$"))

        # Search finds people by the start of a word, and events.
        box = bob.get_by_role("combobox", name="Search people, rooms and events")
        await box.fill("ivan_1")
        results = bob.get_by_role("region", name="Search results")
        await expect(results.get_by_role("link", name=re.compile("Ivan Horvat"))).to_be_visible()
        await box.fill("engines")
        found = bob.get_by_role("region", name="Search results")
        await expect(found).to_contain_text("Engines, part two")
        await box.fill("hor")
        await results.get_by_role("link", name=re.compile("Ivan Horvat")).click()
        await expect(bob.get_by_role("heading", name="Ivan Horvat", level=1)).to_be_visible()
        for page in (ada, bob):
            assert page.js_errors == []
