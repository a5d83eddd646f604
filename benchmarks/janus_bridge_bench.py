"""Listeners per Janus instance with Podium's Janus engine (AudioBridge participants).

Run as root inside a loopback-only namespace (it starts its own Janus, like tests/janus):

    unshare -n sh -c 'ip link set lo up && .venv/bin/python benchmarks/janus_bridge_bench.py'

One Janus instance; ``JanusEngine`` (what ``podium serve`` runs with ``media_engine = janus``)
connects one speaker playing a tone and N listeners (aiortc peers in this process that count
packets without decoding). Janus's CPU time (``/proc/PID/stat``) over a window is divided by
the RTP packets the listeners received: Janus CPU per listener-packet, and the listeners one
core of Janus serves at 50 packets a second each. The figure at the smallest N is the
baseline the larger ones are compared with (how well the cost scales).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/janus/janusd: the same throwaway Janus as the tests

from tests.janus.janusd import ADMIN_SECRET, ICE_ADDRESS, start_instances  # noqa: E402

from podium.config import Settings  # noqa: E402
from podium.media.analysis import tone_wav  # noqa: E402
from podium.media.engine import SessionDescription  # noqa: E402
from podium.media.janus.engine import JanusEngine  # noqa: E402
from podium.media.peer import ClientPeer  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def join(engine: JanusEngine, room: str, user: int, decode: bool) -> ClientPeer:
    peer = ClientPeer(ice_hosts=[ICE_ADDRESS], stun_urls=[], decode_audio=decode)
    offer = await peer.create_offer()
    answer = await engine.connect(room, user, offer)
    await peer.accept_answer(SessionDescription(answer.sdp, answer.type))
    await peer.wait_connected(timeout=30)
    return peer


async def measure(engine: JanusEngine, pid: int, n: int, tone: str,
                  window: float) -> dict[str, float]:
    room = f"bench{n}"
    await engine.set_heard(room, frozenset({1}))
    speaker = await join(engine, room, 1, decode=True)
    speaker.play_file(tone, loop=True)
    listeners = []
    for start in range(0, n, 10):  # ten set-ups at a time
        listeners += await asyncio.gather(*(join(engine, room, 2 + i, decode=False)
                                             for i in range(start, min(n, start + 10))))
    await asyncio.sleep(3)  # warm-up: let every listener's audio start
    packets0 = sum([await p.packets_received() for p in listeners])
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(window)  # the measuring window
    cpu1, t1 = cpu_seconds(pid), time.monotonic()
    packets = sum([await p.packets_received() for p in listeners]) - packets0
    for peer in (speaker, *listeners):
        await peer.close()
    await engine.close_room(room)
    us = 1e6 * (cpu1 - cpu0) / max(packets, 1)
    return {"listeners": n, "janus_cpu_share": round((cpu1 - cpu0) / (t1 - t0), 3),
            "packets_per_s": round(packets / (t1 - t0)), "expected_per_s": 50 * n,
            "us_per_listener_packet": round(us, 1),
            "listeners_per_core": round(1e6 / (us * 50)) if packets else 0}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ns", default="25,50,100")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    os.environ["PODIUM_ICE_HOSTS"] = ICE_ADDRESS
    tmp = Path(tempfile.mkdtemp(prefix="podium-janus-bench-"))
    tone = str(tmp / "tone.wav")
    tone_wav(tone, 440, 5.0)
    (janus,) = await start_instances(tmp / "janus", 1)
    assert janus.process is not None
    engine = JanusEngine(Settings(secret_key="bench", media_engine="janus",
                                  janus_instances=[janus.entry], janus_admin_secret=ADMIN_SECRET))
    await engine.start()
    runs = []
    try:
        for n in [int(x) for x in args.ns.split(",")]:
            row = await measure(engine, janus.process.pid, n, tone, args.window)
            runs.append(row)
            print(json.dumps(row), flush=True)
    finally:
        await engine.close()
        janus.stop()
    base = runs[0]["us_per_listener_packet"]
    for row in runs:
        row["ratio_to_smallest"] = round(row["us_per_listener_packet"] / base, 2)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
               "load_average": os.getloadavg()[0], "runs": runs}
    print(json.dumps(results, indent=1))
    if not args.no_save:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        out = HERE / "results" / f"janus-bridge-{stamp}.json"
        out.write_text(json.dumps(results, indent=1) + "\n")
        print(f"saved {out}")


if __name__ == "__main__":
    asyncio.run(main())
