"""A real ``podium serve`` recording a real WebRTC speaker: killed with SIGKILL, its file still
plays up to the last second or two, and the next start ends the replay; on a full disk (a
tiny tmpfs in the server's own mount namespace) recording stops, the host is told, and the room
goes on."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from podium.cli.bot import connect_audio
from podium.client import PodiumClient
from podium.media import ogg
from podium.media.analysis import tone_wav
from tests.conftest import _free_port, wait_listening
from tests.e2e.audio import hears as heard_live
from tests.e2e.audio import record_after
from tests.replays.helpers import decode_ogg, dominant, window

pytestmark = [pytest.mark.media]


def _env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    return {**os.environ, "PODIUM_PORT": str(port), "PODIUM_HOST": "127.0.0.1",
            "PODIUM_DATA_DIR": str(tmp_path), "PODIUM_SECRET_KEY": "test-secret",
            "PODIUM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'podium.db'}",
            "PODIUM_MEDIA_WORKERS": "0", "PODIUM_ICE_HOSTS": "127.0.0.1", **extra}


def _admin_token(env: dict[str, str], name: str = "admin") -> str:
    if name != "admin":
        subprocess.run([sys.executable, "-m", "podium.cli.main", "admin", "create-user", name],
                       env=env, capture_output=True, timeout=60, check=True)
    out = subprocess.run([sys.executable, "-m", "podium.cli.main", "admin", "token", name],
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


@contextlib.asynccontextmanager
async def serving(env: dict[str, str], log: Path,
                  wrap: list[str] | None = None) -> AsyncIterator[asyncio.subprocess.Process]:
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *(wrap or []), sys.executable, "-m", "podium.cli.main", "serve", env=env,
            stdout=out, stderr=subprocess.STDOUT)
        try:
            await wait_listening(int(env["PODIUM_PORT"]), proc)
            yield proc
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGINT)
                await asyncio.wait_for(proc.wait(), 30)


async def until(check: Any, timeout: float, what: str) -> Any:
    """Poll the server (over HTTP) until ``check()`` returns something true."""
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.2)  # polls the server's answer, with a deadline


@pytest.mark.timeout(240)
async def test_a_recording_survives_kill_9_and_is_ended_at_the_next_start(
        tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path, port)
    tone = str(tmp_path / "tone.wav")
    tone_wav(tone, 440, 2.0)
    log = tmp_path / "server.log"
    async with serving(env, log) as proc:
        token = await asyncio.to_thread(_admin_token, env)
        client = PodiumClient(f"http://127.0.0.1:{port}", token)
        room = await client.create_room("Crash", record=True)
        rt = await client.connect()
        await rt.join(room["id"])
        peer = await connect_audio(rt)
        peer.play_file(tone, loop=True)
        replay = await client.room_replay(room["id"])
        path = tmp_path / "recordings" / f"{replay['id']}.ogg"

        async def six_seconds() -> int:
            ms = int((await client.replay(replay["id"]))["duration_ms"])
            return ms if ms >= 6000 else 0

        last_seen = await until(six_seconds, 60, "6 s recorded")
        proc.kill()  # SIGKILL: no shutdown, no last flush
        await proc.wait()
        await peer.close()
        await rt.close()
        await client.close()
    data = path.read_bytes()
    kept = ogg.duration_samples(data) / ogg.SAMPLE_RATE  # every page's CRC checked
    assert kept >= last_seen / 1000 - 2.0, (kept, last_seen)
    audio = decode_ogg(data)
    assert abs(len(audio) / ogg.SAMPLE_RATE - kept) <= 0.1
    assert abs(dominant(window(audio, kept - 1.5, kept - 0.3)) - 440) <= 5

    async with serving(env, log):
        client = PodiumClient(f"http://127.0.0.1:{port}", token)
        ended = await client.replay(replay["id"])
        await client.close()
    assert ended["ended_at"] is not None and ended["end_reason"] == "server_restart"
    assert abs(ended["duration_ms"] - kept * 1000) <= 50
    assert list(ogg.pages(path.read_bytes()))[-1].flags & ogg.FLAG_EOS


@pytest.mark.timeout(240)
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                    reason="mounting a tmpfs in a private mount namespace needs root")
async def test_a_full_disk_stops_the_recording_and_the_room_goes_on(tmp_path: Path) -> None:
    port = _free_port()
    full = tmp_path / "small"
    full.mkdir()
    env = _env(tmp_path, port, PODIUM_RECORDINGS_DIR=str(full))
    # The server alone sees a 64 KiB tmpfs over its recordings directory: ENOSPC for real.
    wrap = ["unshare", "-m", "sh", "-c",
            'mount --make-rprivate / && mount -t tmpfs -o size=64k tmpfs "$0" && exec "$@"',
            str(full)]
    tone = str(tmp_path / "tone.wav")
    tone_wav(tone, 440, 2.0)
    async with serving(env, tmp_path / "server.log", wrap):
        base = f"http://127.0.0.1:{port}"
        token = await asyncio.to_thread(_admin_token, env)
        host = PodiumClient(base, token)
        room = await host.create_room("Full disk", record=True)
        rt = await host.connect()
        await rt.join(room["id"])
        peer = await connect_audio(rt)
        peer.play_file(tone, loop=True)
        ear_rt = ear = None
        try:
            stopped = await rt.wait_event(
                "recording_changed", timeout=90, match=lambda e: not e["recording"])
            assert stopped["reason"] == "disk_full"
            # The host is told (a notification), the room goes on and is heard.
            async def told() -> list[Any]:
                notes = (await host.request("GET", "/notifications"))["notifications"]
                return [n for n in notes if n["kind"] == "recording_stopped"]

            assert "disk is full" in (await until(told, 20, "the host told"))[0]["text"]
            view = await host.room(room["id"])
            assert view["status"] == "live" and view["recording"] is False
            await host.request("POST", "/invites")  # the server still writes its database
            ear_client = PodiumClient(base, await asyncio.to_thread(_admin_token, env, "ear"))
            ear_rt = await ear_client.connect()
            await ear_rt.join(room["id"])
            ear = await connect_audio(ear_rt)
            assert heard_live(await record_after(ear, 0.3, 1.0), 440)
            replay = await host.room_replay(room["id"])
            assert replay["end_reason"] == "disk_full" and replay["duration_ms"] > 1000
            audio = decode_ogg(await host.replay_audio(replay["id"]))
            assert len(audio) > ogg.SAMPLE_RATE and abs(dominant(audio[-24_000:]) - 440) <= 5
        finally:
            await peer.close()
            await rt.close()
            if ear is not None and ear_rt is not None:
                await ear.close()
                await ear_rt.close()
                await ear_rt.client.close()
            await host.close()
