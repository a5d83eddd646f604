"""In a real Chromium: the Content-Security-Policy is sent, the app runs under it without a single
violation (sign in, hallway, room page), and script payloads in a room title, a room
description and a display name render as text and run nothing."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from podium.api.security import content_security_policy
from tests.web.conftest import CHROMIUM, launch, new_page, pw, sign_in, wait_state

__all__ = ["launch", "pw"]

pytestmark = pytest.mark.browser
if not os.environ.get("CI"):
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed", allow_module_level=True)
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} not found", allow_module_level=True)

XSS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    '"><svg onload="window.__xss=3">',
    "javascript:window.__xss=4",
]
# Recorded from the first script on every page, before the app's own code runs.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sample || ""));
});
"""


@pytest.fixture
async def browser(launch: Callable[..., Any]) -> AsyncIterator[Any]:
    yield await launch()


async def test_the_app_runs_under_its_csp_and_payloads_stay_text(
        make_server: Callable[..., Any], browser: Any) -> None:
    async with make_server() as server:
        accounts, rooms = server.services.accounts, server.services.rooms
        host = await accounts.create_user("ada", "Ada " + XSS[0], "password-ada")
        await accounts.create_user("bob", "Bob " + XSS[2], "password-bob")
        title = "Night " + XSS[1]
        description = "About " + XSS[0] + "\n" + XSS[3]
        live = await rooms.create(host, title, description, "open")
        await rooms.join(live.room_id, host, "test")  # ada is on stage, so the room lives

        page = await new_page(browser, server)
        await page.context.add_init_script(WATCH_CSP)
        response = await page.goto("/signin")
        assert response is not None
        headers = await response.all_headers()
        assert headers["content-security-policy"] == content_security_policy(server.settings)
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"

        await sign_in(page, "bob")
        card = page.locator(".room-card", has_text="Night")
        await card.wait_for()
        # Stored as typed (cleaned, not escaped), shown as text.
        assert XSS[1] in await card.inner_text()
        assert "About " + XSS[0] in await card.inner_text()
        await card.click()
        await wait_state(page, role="listener", room=live.room_id)
        await page.get_by_text("Ada " + XSS[0]).first.wait_for()
        await page.get_by_text(XSS[3]).first.wait_for()
        assert await page.evaluate("window.__xss") is None
        assert await page.locator("main img, main svg[onload], main script").count() == 0
        assert await page.evaluate("window.__csp") == []
        assert page.js_errors == []

        # The listener works: an inline script is blocked and reported.
        await page.evaluate("""() => {
            const s = document.createElement('script');
            s.textContent = 'window.__xss = 5';
            document.body.append(s);
        }""")
        await page.wait_for_function("window.__csp.length > 0")
        assert await page.evaluate("window.__xss") is None
        violations = await page.evaluate("window.__csp")
        assert all(v.startswith("script-src") for v in violations), violations
