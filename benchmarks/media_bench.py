"""Embedded media engine benchmark: join latency, server CPU per listener-packet, RSS per peer.

The engine runs in this process; the client peers run in a child process (this script with
``--client``), so the server's CPU (``/proc/self/stat`` utime+stime) is measured alone.
Signalling between the two is JSON lines over the child's stdin/stdout.

Run it in a loopback-only network namespace (it opens real UDP sockets):

    unshare -n sh -c 'ip link set lo up && /tmp/venv/bin/python benchmarks/media_bench.py'

Results are printed and appended to benchmarks/results/HISTORY.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import history

from podium.config import Settings
from podium.media.analysis import tone_wav
from podium.media.embedded import EmbeddedEngine
from podium.media.engine import SessionDescription
from podium.media.peer import ClientPeer

LOOPBACK = ["127.0.0.1"]
ROOM = "bench"
SPEAKER_ID = 1


# -- client process ---------------------------------------------------------------------------


class ClientSide:
    """Owns every ClientPeer; answers the server's commands (one JSON object per line)."""

    def __init__(self, tone_path: str) -> None:
        self.peers: dict[int, ClientPeer] = {}
        self.tone_path = tone_path

    def send(self, message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    async def offer(self, uid: int) -> None:
        # Listeners only count RTP (no decoding), so this process can keep up with 100 of them.
        peer = ClientPeer(ice_hosts=LOOPBACK, decode_audio=uid == SPEAKER_ID)
        self.peers[uid] = peer
        started = time.monotonic()
        offer = await peer.create_offer()
        self.send({"reply": "offer", "uid": uid, "sdp": offer.sdp, "started": started})

    async def answer(self, uid: int, sdp: str, play: bool) -> None:
        peer = self.peers[uid]
        await peer.accept_answer(SessionDescription(sdp=sdp, type="answer"))
        await peer.wait_connected(10.0)
        if play:
            peer.play_file(self.tone_path)
        async with asyncio.timeout(10.0):
            while peer.first_audio_at is None:  # noqa: ASYNC110 (no event for "first frame")
                await asyncio.sleep(0.002)
        self.send({"reply": "joined", "uid": uid, "first_audio_at": peer.first_audio_at})

    async def count(self) -> None:
        counts = await asyncio.gather(
            *(p.packets_received() for uid, p in self.peers.items() if uid != SPEAKER_ID)
        )
        self.send({"reply": "count", "packets": sum(counts), "cpu": _cpu_seconds()})

    async def close_all(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers.values()))
        self.peers.clear()
        self.send({"reply": "closed"})

    async def handle(self, msg: dict[str, Any]) -> None:
        cmd = msg["cmd"]
        if cmd == "offer":
            await self.offer(msg["uid"])
        elif cmd == "answer":
            await self.answer(msg["uid"], msg["sdp"], msg.get("play", False))
        elif cmd == "count":
            await self.count()
        elif cmd == "close_all":
            await self.close_all()


async def client_main(tone_path: str) -> None:
    side = ClientSide(tone_path)
    reader = asyncio.StreamReader(limit=1 << 20)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    tasks: set[asyncio.Task[None]] = set()
    while line := await reader.readline():
        msg = json.loads(line)
        if msg["cmd"] == "exit":
            break
        task = asyncio.create_task(side.handle(msg))  # joins may overlap
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


# -- server process ---------------------------------------------------------------------------


def _cpu_split(pid: str = "self") -> tuple[float, float]:
    """(user, system) CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14/15 of proc(5), 0-based after ")"
    tick = os.sysconf("SC_CLK_TCK")
    return utime / tick, stime / tick


def _cpu_seconds(pid: str = "self") -> float:
    return sum(_cpu_split(pid))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Server:
    def __init__(self, engine: EmbeddedEngine, proc: asyncio.subprocess.Process) -> None:
        self.engine = engine
        self.proc = proc
        self.waiters: dict[tuple[str, int], asyncio.Future[dict[str, Any]]] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            msg = json.loads(line)
            fut = self.waiters.pop((msg["reply"], msg.get("uid", 0)), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def ask(self, reply: str, **cmd: Any) -> dict[str, Any]:
        """Send a command; wait for the reply of that kind (for that uid, if any)."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters[(reply, cmd.get("uid", 0))] = fut
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        return await asyncio.wait_for(fut, 30.0)

    async def join(self, uid: int, play: bool = False) -> float:
        """Connect one client peer; seconds from its create_offer() to its first audio frame."""
        offer = await self.ask("offer", cmd="offer", uid=uid)
        answer = await self.engine.connect(
            ROOM, uid, SessionDescription(sdp=offer["sdp"], type="offer")
        )
        joined = await self.ask("joined", cmd="answer", uid=uid, sdp=answer.sdp, play=play)
        return float(joined["first_audio_at"]) - float(offer["started"])


async def server_main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="podium-bench-")
    tone_path = os.path.join(tmp, "tone.wav")
    tone_wav(tone_path, 440, 2.0)
    settings = Settings(ice_hosts=LOOPBACK, secret_key="bench", data_dir=Path(tmp))
    engine = EmbeddedEngine(settings)
    await engine.start()
    await engine.set_heard(ROOM, frozenset({SPEAKER_ID}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", tone_path,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    server = Server(engine, proc)
    try:
        return await _measure(server, engine, args)
    finally:
        await server.ask("closed", cmd="close_all")
        assert proc.stdin is not None
        proc.stdin.write(b'{"cmd": "exit"}\n')
        await proc.wait()
        await engine.close()


async def _measure(
    server: Server, engine: EmbeddedEngine, args: argparse.Namespace
) -> dict[str, Any]:
    await server.join(SPEAKER_ID, play=True)  # one heard speaker: decode + mix-minus encode
    rss_base = _rss_mb()
    uid = SPEAKER_ID + 1
    latencies = []
    for _ in range(args.joins):  # one at a time, so latencies are not queueing delays
        latencies.append(await server.join(uid))
        uid += 1
    while uid <= args.listeners + SPEAKER_ID:
        batch = range(uid, min(uid + 10, args.listeners + SPEAKER_ID + 1))
        await asyncio.gather(*(server.join(u) for u in batch))
        uid = batch[-1] + 1
    rss_full = _rss_mb()
    assert engine.stats().peers == args.listeners + 1

    await asyncio.sleep(args.warmup)  # let joins' DTLS/ICE work settle before sampling
    before = await server.ask("count", cmd="count")
    (user0, sys0), t0 = _cpu_split(), time.monotonic()
    await asyncio.sleep(args.seconds)
    (user1, sys1), t1 = _cpu_split(), time.monotonic()
    cpu0, cpu1 = user0 + sys0, user1 + sys1
    after = await server.ask("count", cmd="count")
    packets = after["packets"] - before["packets"]
    wall = t1 - t0
    return {
        "listeners": args.listeners,
        "join_latency_ms": sorted(round(x * 1000, 1) for x in latencies),
        "join_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "join_p95_ms": round(_percentile(latencies, 95) * 1000, 1),
        "window_s": round(wall, 2),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "server_cpu_pct": round((cpu1 - cpu0) / wall * 100, 1),
        # System time is mostly sendto() and waking the receiving process (loopback).
        "server_user_s": round(user1 - user0, 3),
        "server_system_s": round(sys1 - sys0, 3),
        "listener_packets": packets,
        "packets_per_s": round(packets / wall),
        "expected_packets_per_s": args.listeners * 50,
        "server_cpu_us_per_listener_packet": round((cpu1 - cpu0) / packets * 1e6, 1),
        "client_cpu_pct": round((after["cpu"] - before["cpu"]) / wall * 100, 1),
        "server_peers_at_end": engine.stats().peers,
        "rss_base_mb": round(rss_base, 1),
        "rss_full_mb": round(rss_full, 1),
        "rss_per_listener_kb": round((rss_full - rss_base) * 1024 / args.listeners, 1),
    }


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _machine() -> str:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    # A busy machine (other test runs) starves both processes: the load average says so.
    return (
        f"nproc={os.cpu_count()}, CPU: {model}, Python {platform.python_version()}, "
        f"load average at the end {load}"
    )


def _report(result: dict[str, Any]) -> str:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## media_bench {stamp}",
        "",
        f"Machine: {_machine()}. Engine in one process, client peers in another (loopback).",
        "",
        f"- join -> first audio frame (n={len(result['join_latency_ms'])}): "
        f"p50 {result['join_p50_ms']} ms, p95 {result['join_p95_ms']} ms",
        f"- {result['listeners']} listeners + 1 speaker: server CPU {result['server_cpu_pct']} % "
        f"of a core, {result['packets_per_s']} listener pkt/s "
        f"(due {result['expected_packets_per_s']}) -> "
        f"**{result['server_cpu_us_per_listener_packet']} µs CPU per listener-packet** "
        f"(user {result['server_user_s']} s, system {result['server_system_s']} s)",
        f"- server RSS {result['rss_base_mb']} MB -> {result['rss_full_mb']} MB: "
        f"**{result['rss_per_listener_kb']} kB per listener connection**",
        "",
        "Raw:",
        "",
        "```json",
        json.dumps(result, indent=1),
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--client", metavar="TONE_WAV", help=argparse.SUPPRESS)
    parser.add_argument("--listeners", type=int, default=100)
    parser.add_argument("--joins", type=int, default=20, help="sequential joins timed")
    parser.add_argument("--seconds", type=float, default=10.0, help="CPU sampling window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--no-save", action="store_true", help="only print (no results/HISTORY.md)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.client:
        asyncio.run(client_main(args.client))
        return
    args.joins = min(args.joins, args.listeners)
    result = asyncio.run(server_main(args))
    text = _report(result)
    print(text)
    if not args.no_save:
        history.append(text)


if __name__ == "__main__":
    main()
