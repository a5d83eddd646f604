"""Real-browser tests: Debian's Chromium driven by Playwright against a real Podium server.

Run inside a loopback-only namespace (``scripts/test tests/web``, or
``unshare -n sh -c 'ip link set lo up && /tmp/venv/bin/pytest tests/web -q'``).
Each browser that needs its own microphone tone is its own browser process: Chromium's fake
capture file is set per launch.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import struct
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PODIUM_CHROMIUM", "/usr/bin/chromium")
BASE_ARGS = [
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-background-networking",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The microphone goes out unprocessed in tests: noise suppression may treat a steady tone as noise.
RAW_MIC = "window.PODIUM_TEST = Object.freeze({rawMic: true});"

pytestmark = pytest.mark.browser


def _missing() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        return  # in CI a missing browser is a failure, not a skip
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "tests/web" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


def tone_wav(path: Path, freq: float, seconds: float = 4.0, rate: int = 48000,
             amplitude: float = 0.5) -> Path:
    """A mono 16-bit sine tone; Chromium loops it as the fake microphone."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        value = int(amplitude * 32767 * math.sin(2 * math.pi * freq * i / rate))
        frames += struct.pack("<h", value)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path


@pytest.fixture
async def pw() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        yield p


@pytest.fixture
async def launch(pw: Any, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """``browser = await launch(tone=440)``: a Chromium whose fake microphone plays ``tone`` Hz."""
    browsers: list[Any] = []

    async def start(tone: float | None = None, **kwargs: Any) -> Any:
        args = list(BASE_ARGS)
        if tone is not None:
            wav = tone_wav(tmp_path / f"tone-{int(tone)}-{len(browsers)}.wav", tone)
            args.append(f"--use-file-for-fake-audio-capture={wav}")
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=args, **kwargs)
        browsers.append(browser)
        return browser

    yield start
    for browser in browsers:
        with contextlib.suppress(Exception):
            await browser.close()


async def new_page(browser: Any, server: Any, width: int = 1280, height: int = 800,
                   color_scheme: str = "light") -> Any:
    context = await browser.new_context(base_url=server.url,
                                        viewport={"width": width, "height": height},
                                        color_scheme=color_scheme)
    await context.add_init_script(RAW_MIC)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


async def sign_in(page: Any, username: str, password: str | None = None) -> None:
    """Sign in through the form, then land in the hallway."""
    await page.goto("/signin")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(password or "password-" + username)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Hallway").wait_for()


async def wait_heard(page: Any, freq: float, tolerance: float = 10.0,
                     timeout: float = 20_000) -> float:
    """Wait until the page's received audio peaks within ``tolerance`` Hz of ``freq``."""
    # Return the frequency that satisfied the wait: reading it again later races the audio.
    handle = await page.wait_for_function(
        """([f, tol]) => {
            const d = window.podiumDebug && window.podiumDebug.dominantFrequency();
            return d !== null && d !== undefined && Math.abs(d - f) <= tol ? d : null;
        }""", arg=[freq, tolerance], timeout=timeout, polling=100)
    return float(await handle.json_value())


async def wait_silent(page: Any, freq: float, timeout: float = 20_000) -> None:
    """Wait until ``freq`` is no longer in what the page receives."""
    await page.wait_for_function(
        """(f) => {
            const d = window.podiumDebug.dominantFrequency();
            return (d === null || Math.abs(d - f) > 30) && window.podiumDebug.level() < 0.01;
        }""", arg=freq, timeout=timeout, polling=100)


async def wait_state(page: Any, **expected: Any) -> None:
    """Wait until ``podiumDebug.state()`` has every key/value in ``expected``."""
    await page.wait_for_function(
        """(want) => {
            const s = window.podiumDebug && window.podiumDebug.state();
            return s && Object.entries(want).every(([k, v]) => s[k] === v);
        }""", arg=expected, timeout=20_000, polling=100)
