"""Moderation in the browser: remove with a duration and the hand-raise policy from the room;
the admin review page (reports, dismiss, audit log)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.web.conftest import new_page, sign_in, wait_state

pytestmark = pytest.mark.browser


async def test_moderator_controls_and_admin_review(make_server: Any, launch: Any) -> None:
    async with make_server() as server:
        services = server.services
        accounts, rooms = services.accounts, services.rooms
        ada = await accounts.create_user("ada", "Ada Host", "password-ada")
        bob = await accounts.create_user("bob", "Bob Listener", "password-bob")
        await accounts.create_user("root", "Root Admin", "password-root", is_admin=True)
        live = await rooms.create(ada, "Moderated talk", "", "open")
        await rooms.join(live.room_id, bob, None)

        browser = await launch()
        page = await new_page(browser, server)
        await sign_in(page, "ada")
        await page.goto(f"/room/{live.room_id}")
        await wait_state(page, role="moderator")

        # Who may raise a hand: a selector for moderators; everyone sees the change at once.
        await page.get_by_label("Who may raise a hand").select_option("nobody")
        await expect(page.get_by_label("Who may raise a hand")).to_have_value("nobody")

        # Remove bob for an hour from his audience tile's menu.
        await page.get_by_role("button", name=re.compile(r"^Bob Listener\. Options")).click()
        await page.get_by_role("button", name="Remove from room…").click()
        dialog = page.get_by_role("dialog")
        await dialog.get_by_label("Keep them out for").select_option("60")
        await dialog.get_by_role("button", name="Remove").click()
        await expect(page.get_by_text("Bob Listener was removed")).to_be_visible()
        assert bob.id not in live.state.members
        assert live.state.hand_policy.value == "nobody"
        assert await services.moderation.is_banned(live.room_id, bob.id)

        # A report, reviewed on /admin.
        await services.moderation.reports.create(bob, "ada", "spam", "Selling things.",
                                                 live.room_id)
        admin = await new_page(browser, server)
        await sign_in(admin, "root")
        await admin.get_by_role("link", name="Review").click()
        await admin.wait_for_url(re.compile(r"/admin$"))
        await expect(admin.get_by_text("Selling things.")).to_be_visible()
        await expect(admin.get_by_text("Moderated talk")).to_be_visible()
        await admin.get_by_role("button", name="Dismiss").click()
        await expect(admin.get_by_text("No open reports.")).to_be_visible()
        await expect(admin.get_by_text("room ban")).to_be_visible()
        await expect(admin.get_by_text("report dismissed")).to_be_visible()
        assert not page.js_errors and not admin.js_errors, (page.js_errors, admin.js_errors)
