"""The shared server fixtures, tuned for API and realtime tests (which never touch audio)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import fast_passwords, shared_tls_context
from tests.conftest import Server, run_server

__all__ = ["fast_passwords", "make_server", "server", "shared_tls_context"]

# No media worker processes: starting them costs seconds per server and no test here sends
# audio. Generous limits on sign-ups and room creation: validation tests try many bodies from
# one address or account (rate limits have tests of their own).
SETTINGS: dict[str, Any] = {"media_workers": 0, "rate_signup": "1000/60",
                            "rate_room_create": "1000/60"}


@pytest.fixture
async def server(tmp_path: Path, db_kind: str) -> AsyncIterator[Server]:
    async with run_server(tmp_path, db_kind, **SETTINGS) as handle:
        yield handle


@pytest.fixture
def make_server(tmp_path: Path) -> Callable[..., Any]:
    """``async with make_server(x=1) as s``: SQLite, with SETTINGS unless overridden."""
    return lambda **overrides: run_server(tmp_path, "sqlite", **{**SETTINGS, **overrides})
