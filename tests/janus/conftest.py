"""Two throwaway Janus instances per test module (see ``janusd``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.janus.janusd import ADMIN_SECRET, ICE_ADDRESS, JanusProcess, start_instances, unavailable


@pytest.fixture
async def janus_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                     ) -> AsyncIterator[list[JanusProcess]]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    # Bots must gather on the veth address Janus enforces (libnice binds to that device).
    monkeypatch.setenv("PODIUM_ICE_HOSTS", ICE_ADDRESS)
    procs = await start_instances(tmp_path / "janus", 2)
    try:
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def janus_settings(procs: list[JanusProcess]) -> dict[str, object]:
    return {"media_engine": "janus", "janus_instances": [p.entry for p in procs],
            "janus_admin_secret": ADMIN_SECRET}
