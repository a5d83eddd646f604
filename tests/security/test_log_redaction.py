"""No secret is written to the log: a real ``podium serve`` (its own logging, uvicorn's access log
at INFO) is sent API tokens in query strings, a calendar feed URL and invite links, and its
whole output is searched for them afterwards.

Before: uvicorn's access log printed ``/api/v1/ws?token=pod_...`` and the feed's secret URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conftest import _free_port, wait_listening


def _env(tmp_path: Path, port: int, log_format: str) -> dict[str, str]:
    return {**os.environ, "PODIUM_PORT": str(port), "PODIUM_HOST": "127.0.0.1",
            "PODIUM_DATA_DIR": str(tmp_path), "PODIUM_SECRET_KEY": "test-secret",
            "PODIUM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'podium.db'}",
            "PODIUM_MEDIA_WORKERS": "0", "PODIUM_ICE_HOSTS": "127.0.0.1",
            "PODIUM_LOG_FORMAT": log_format}


def _admin_token(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-m", "podium.cli.main", "admin", "token", "admin"],
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


async def _use_secrets(base: str, token: str) -> list[str]:
    """Requests that put secrets in URLs; returns the secrets."""
    bearer = {"Authorization": f"Bearer {token}", "X-Podium-CSRF": "1"}
    async with httpx.AsyncClient(base_url=base) as http:
        invite = (await http.post("/api/v1/invites", headers=bearer)).json()
        feed = (await http.post("/api/v1/calendar/token", headers=bearer)).json()
        code, feed_url = invite["code"], feed["url"]
        feed_secret = feed_url.rsplit("/", 1)[1].removesuffix(".ics")
        await http.get(f"/api/v1/auth/me?token={token}")
        await http.get(f"/invite/{code}")
        await http.get(f"/api/v1/invites/{code}")
        await http.get(feed_url.replace(feed_url.split("/api/")[0], ""))
    ws_base = base.replace("http://", "ws://")
    async with websockets.connect(f"{ws_base}/api/v1/ws?token={token}") as ws:
        await asyncio.wait_for(ws.recv(), 10)  # hello
    return [token, token[4:], code, feed_secret]


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_the_log_shows_no_secrets(tmp_path: Path, log_format: str) -> None:
    port = _free_port()
    env = _env(tmp_path, port, log_format)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "podium.cli.main", "serve", env=env, stdout=out,
            stderr=subprocess.STDOUT)
        try:
            await wait_listening(port, proc)
            token = await asyncio.to_thread(_admin_token, env)
            secrets = await _use_secrets(f"http://127.0.0.1:{port}", token)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 30)
    text = log_path.read_text()
    assert "GET /api/v1/auth/me?token=" in text, "the access log was not written at INFO"
    assert "[redacted]" in text
    for secret in secrets:
        assert secret not in text, f"a secret ({secret[:6]}...) is in the log"
