"""The screenshot script keeps working (it writes to a temporary folder here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.make_screenshots import capture

pytestmark = pytest.mark.browser


async def test_screenshots(make_server: Any, pw: Any, tmp_path: Path) -> None:
    async with make_server() as server:
        written = await capture(server, pw, tmp_path / "shots", tmp_path)
    names = {p.name for p in written}
    assert {"hallway-375.png", "hallway-1280.png", "room-375.png", "room-1280.png",
            "replay-375.png", "replay-1280-dark.png", "clip-375.png", "clip-1280.png"} <= names
    for path in written:
        assert path.stat().st_size > 10_000, path
