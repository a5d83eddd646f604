"""The ``podium bot`` commands, run as real processes against a real server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from podium.cli.bot import connect_audio
from podium.media.analysis import read_wav, tone_wav
from tests.conftest import Server
from tests.e2e.audio import dominant, hears, record_after

pytestmark = [pytest.mark.media]


@pytest.fixture(params=["sqlite"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _token(server: Server, username: str) -> str:
    account = await server.services.accounts.create_user(username, username, "password-x1")
    _, token = await server.services.accounts.create_token(account.id, "bot")
    return token


async def _bot(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PODIUM_ICE_HOSTS": "127.0.0.1"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podium.cli.main", "bot", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def _line(proc: asyncio.subprocess.Process, timeout: float = 30) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not line:
        assert proc.stderr is not None
        raise AssertionError((await proc.stderr.read()).decode()[-2000:])
    return line.decode().strip()


async def _until(proc: asyncio.subprocess.Process, prefix: str) -> None:
    while not (await _line(proc)).startswith(prefix):
        pass


async def test_speaker_bot_is_heard_by_listener_bot(server: Server, tmp_path: Path) -> None:
    tone = tmp_path / "tone.wav"
    tone_wav(str(tone), 440, 2.0)
    host_token = await _token(server, "radio")
    ear_token = await _token(server, "ear")
    speaker = await _bot("speak", "--server", server.url, "--token", host_token,
                         "--create", "Bot radio", "--file", str(tone), "--seconds", "60")
    try:
        room_id = await _line(speaker)  # the first line is the room id
        assert room_id in server.services.rooms.rooms
        await _until(speaker, "speaking in room")
        out = tmp_path / "heard.wav"
        listener = await _bot("listen", "--server", server.url, "--token", ear_token,
                              "--room", room_id, "--seconds", "3", "--out", str(out))
        stdout, stderr = await asyncio.wait_for(listener.communicate(), 60)
        assert listener.returncode == 0, stderr.decode()[-2000:]
        assert stdout.decode().splitlines()[0] == room_id
        heard = read_wav(str(out))[48000:]  # skip the first second: joining, jitter buffers
        assert len(heard) >= 48000
        assert abs(dominant(heard) - 440) <= 5
    finally:
        speaker.terminate()
        await asyncio.wait_for(speaker.wait(), 30)


async def test_speaker_bot_waits_for_invitation(server: Server, tmp_path: Path) -> None:
    tone = tmp_path / "tone.wav"
    tone_wav(str(tone), 660, 2.0)
    host = await server.user("host")
    room = await host.create_room("Open mic")
    host_rt = await host.connect()
    await host_rt.join(room["id"])
    guest_token = await _token(server, "guest")
    speaker = await _bot("speak", "--server", server.url, "--token", guest_token,
                         "--room", room["id"], "--file", str(tone), "--seconds", "60")
    try:
        assert await _line(speaker) == room["id"]
        await host_rt.wait_for(lambda: len(host_rt.room["hands"]) == 1)
        guest_id = host_rt.room["hands"][0]["user_id"]
        await host_rt.send("invite_to_speak", user_id=guest_id)
        await _until(speaker, "speaking in room")
        await host_rt.wait_for(lambda: any(m["user_id"] == guest_id
                                            for m in host_rt.room["stage"]))
        # The host's own client hears the new speaker through the mix-minus.
        peer = await connect_audio(host_rt)
        try:
            heard = await record_after(peer, 0.5, 1.5)
            assert hears(heard, 660)
        finally:
            await peer.close()
    finally:
        speaker.terminate()
        await asyncio.wait_for(speaker.wait(), 30)
        await host_rt.close()
