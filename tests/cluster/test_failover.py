"""A node dies mid-room: the room carries on from the other node and its clients resume there.

Node A is a real ``podium serve`` process, killed with SIGKILL; node B runs in the test. The
clients reach the nodes through a small TCP proxy, as they would through a load balancer that
sends them to a live node when one dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from podium.media.analysis import read_wav, tone_wav
from tests.api.helpers import Member, members, ok
from tests.cluster.conftest import cluster_settings, on
from tests.conftest import POSTGRES_URL, Server, _free_port, run_server, wait_listening
from tests.e2e.audio import dominant
from tests.e2e.test_bots import _bot, _line
from tests.realtime.helpers import (
    assert_gapless,
    assert_matches_fresh_view,
    connected,
    marker,
    seqs,
    toggle_mute,
)

RESUME_DEADLINE = 5.0  # the promise: clients of a dead node resume within 5 s


async def _until(proc: asyncio.subprocess.Process, prefix: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not (await _line(proc, timeout)).startswith(prefix):
            pass


class Proxy:
    """Forwards TCP connections to ``target``; point it elsewhere with ``switch``."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()


@contextlib.asynccontextmanager
async def node_process(tmp_path: Path, shared: dict[str, object]) -> AsyncIterator[
        tuple[asyncio.subprocess.Process, int]]:
    port = _free_port()
    env = {**os.environ, "PODIUM_DATABASE_URL": POSTGRES_URL, "PODIUM_PORT": str(port),
           "PODIUM_HOST": "127.0.0.1", "PODIUM_SECRET_KEY": "test-secret",
           "PODIUM_DATA_DIR": str(tmp_path), "PODIUM_ICE_HOSTS": "127.0.0.1",
           "PODIUM_EVENT_BUS": "redis", "PODIUM_REDIS_URL": str(shared["redis_url"]),
           "PODIUM_REDIS_PREFIX": str(shared["redis_prefix"]),
           "PODIUM_AUDIENCE_COALESCE_SECONDS": "0.05"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "podium.cli.main", "serve", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            while b"open http" not in (line := await proc.stdout.readline()):
                assert line, "node A exited during start-up"
        await wait_listening(port, proc, 30, "node A")  # uvicorn binds after printing
        yield proc, port
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


@dataclass
class Cluster:
    b: Server  # the node that survives, in this process
    proc_a: asyncio.subprocess.Process  # the node that dies
    proxy: Proxy  # the load balancer: sends everyone to A until told otherwise
    via: Server  # B's services, reached through the proxy

    async def kill_a(self) -> None:
        self.proc_a.send_signal(signal.SIGKILL)
        await self.proc_a.wait()
        self.proxy.target = self.b.settings.port  # nobody is sent to A any more


@contextlib.asynccontextmanager
async def a_dies_later(tmp_path: Path) -> AsyncIterator[Cluster]:
    shared = cluster_settings()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with run_server(tmp_path / "b", "postgres", clock_start=time.time(), **shared) as b, \
            node_process(tmp_path / "a", shared) as (proc_a, port_a):
        proxy = Proxy(port_a)
        await proxy.start()
        via = Server(f"http://127.0.0.1:{proxy.port}", b.services, b.clock, b.settings)
        try:
            yield Cluster(b, proc_a, proxy, via)
        finally:
            await proxy.close()


async def test_the_room_and_its_clients_move_on_when_a_node_dies(tmp_path: Path) -> None:
    async with a_dies_later(tmp_path) as cluster:
        b, via = cluster.b, cluster.via
        host, fan, watcher = await members(b, "host", "fan", "watcher")
        host_a, fan_a = Member(via, host.account, host.token), Member(via, fan.account, fan.token)
        rid = ok(await host_a.http.post("/rooms", json={"title": "Survives"}), 201)["id"]
        h = await connected(host_a, rid)  # through the proxy: on A
        f = await connected(fan_a, rid)
        w = await connected(watcher, rid)  # on B
        await marker(h, f, w)
        last_h, last_f = h.last_seq, f.last_seq

        killed = time.monotonic()
        await cluster.kill_a()
        # While the A clients are away, the room goes on on B: a hand (for moderators only)
        # and a listener arriving.
        await w.send("raise_hand")
        await connected(on(b, (await members(b, "late"))[0]), rid)

        # A's sockets died with it; the clients notice and reconnect (to B, via the proxy).
        await asyncio.wait_for(h.closed.wait(), RESUME_DEADLINE)
        await asyncio.wait_for(f.closed.wait(), RESUME_DEADLINE)
        await asyncio.wait_for(h.open(), RESUME_DEADLINE)
        await asyncio.wait_for(f.open(), RESUME_DEADLINE)
        assert h.resumed is True and f.resumed is True
        # The room takes commands again: A's write lock, if it held one, has lapsed.
        await asyncio.wait_for(toggle_mute(h), RESUME_DEADLINE)
        resumed_after = time.monotonic() - killed
        assert resumed_after < 2 * RESUME_DEADLINE  # sanity: each step above had its deadline

        await marker(h, f, w)
        assert_gapless(seqs(h))
        assert_gapless(seqs(f))
        assert any(fr["type"] == "event" and fr["event"]["type"] == "hand_raised"
                   and fr["seq"] > last_h for fr in h.events), "the host missed the raised hand"
        assert not any(fr["type"] == "event" and fr["event"]["type"] == "hand_raised"
                       for fr in f.events)
        assert any(fr["type"] == "event" and fr["event"]["type"] == "audience_changed"
                   and fr["seq"] > last_f for fr in f.events)
        await assert_matches_fresh_view(h, host)
        await assert_matches_fresh_view(f, fan)


async def test_bots_on_a_dead_node_come_back_with_their_audio_on_another(
        tmp_path: Path) -> None:
    """`podium bot` processes reconnect by themselves: the socket resumes on node B and the
    audio (the embedded engine's, which died with node A) is connected again through B."""
    tone = tmp_path / "tone.wav"
    tone_wav(str(tone), 440, 2.0)
    heard_wav = tmp_path / "heard.wav"
    async with a_dies_later(tmp_path) as cluster:
        b, via = cluster.b, cluster.via.url
        host, fan = await members(b, "host", "fan")
        rid = ok(await Member(cluster.via, host.account, host.token).http.post(
            "/rooms", json={"title": "Radio"}), 201)["id"]
        speaker = await _bot("speak", "--server", via, "--token", host.token, "--room", rid,
                             "--file", str(tone), "--seconds", "60")
        listener = await _bot("listen", "--server", via, "--token", fan.token, "--room", rid,
                              "--seconds", "25", "--out", str(heard_wav))
        try:
            await _until(speaker, "speaking")
            await _until(listener, "listening")
            await cluster.kill_a()
            # Both reconnect through B; the listener then hears the speaker again.
            await _until(speaker, "audio reconnected", RESUME_DEADLINE * 3)
            await _until(listener, "audio reconnected", RESUME_DEADLINE * 3)
            live = b.services.rooms.rooms[rid]
            assert {host.id, fan.id} <= set(live.state.members)  # nobody was dropped
            await _until(listener, "saved", 60)
            assert await listener.wait() == 0
            heard = read_wav(str(heard_wav))
            tail = heard[-48000 * 2:]  # the last two seconds, long after the reconnection
            assert abs(dominant(tail) - 440) <= 5, "the speaker is not heard through node B"
        finally:
            for proc in (speaker, listener):
                if proc.returncode is None:
                    proc.kill()
                await proc.wait()
