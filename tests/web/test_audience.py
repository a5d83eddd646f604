"""A big audience stays a small DOM: the listener grid is virtualised and paged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import expect

from podium.services.accounts import Account
from tests.web.conftest import new_page, sign_in, wait_state

pytestmark = pytest.mark.browser
LISTENERS = 2000


async def test_thousands_of_listeners_render_a_window(make_server: Any, launch: Any) -> None:
    async with make_server() as server:
        rooms = server.services.rooms
        ada = await server.services.accounts.create_user("ada", "Ada Lovelace", "password-ada")
        live = await rooms.create(ada, "Town hall", "", "open")
        now = datetime.now(UTC)
        for i in range(LISTENERS):  # members only in the room's live state: no need for rows
            guest = Account(100_000 + i, f"guest{i}", f"Guest {i:04d}", False, False, None, now)
            await rooms.join(live.room_id, guest, None)

        page = await new_page(await launch(), server)
        await sign_in(page, "ada")
        await page.goto(f"/room/{live.room_id}")
        await wait_state(page, role="moderator")
        await expect(page.locator("#aud-h")).to_contain_text("2,000")
        await expect(page.get_by_role("button", name="Guest 0000. Options")).to_be_visible()
        tiles = await page.locator(".aud-cell").count()
        assert 0 < tiles < 200, tiles

        # Scrolling to the end fetches the last page; the DOM stays a window.
        await page.locator(".aud-scroll").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        last = page.get_by_role("button", name=f"Guest {LISTENERS - 1:04d}. Options")
        await expect(last).to_be_visible()
        assert await page.locator(".aud-cell").count() < 200
        assert await page.locator("body *").count() < 1500
        assert page.js_errors == []
