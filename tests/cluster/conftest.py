"""Two Podium nodes sharing the PostgreSQL and Redis that scripts/test starts."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.helpers import Member
from tests.conftest import POSTGRES_URL, Server, run_server

REDIS_URL = os.environ.get("PODIUM_TEST_REDIS_URL", "")
pytestmark = pytest.mark.skipif(
    not (REDIS_URL and POSTGRES_URL) and not os.environ.get("CI"),
    reason="needs PODIUM_TEST_REDIS_URL and PODIUM_TEST_POSTGRES_URL (run with scripts/test)")


def cluster_settings() -> dict[str, object]:
    """Settings every node of one test's cluster shares (its own Redis key prefix)."""
    return {"event_bus": "redis", "redis_url": REDIS_URL,
            "redis_prefix": f"t{secrets.token_hex(4)}:"}


@contextlib.asynccontextmanager
async def two_nodes(tmp_path: Path, **extra: object) -> AsyncIterator[tuple[Server, Server]]:
    """Nodes A and B on one PostgreSQL and one Redis (``extra``: settings both share)."""
    shared = {**cluster_settings(), **extra}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    async with run_server(tmp_path / "a", "postgres", **shared) as a, \
            run_server(tmp_path / "b", "postgres", reset_db=False, **shared) as b:
        yield a, b


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[Server, Server]]:
    async with two_nodes(tmp_path) as pair:
        yield pair


def on(node: Server, m: Member) -> Member:
    """The same member, talking to another node."""
    return Member(node, m.account, m.token)
