"""Room events per second through Redis across two nodes, against one node in memory.

Run inside a loopback-only namespace (it starts its own throwaway Redis on 127.0.0.1):

    unshare -n sh -c 'ip link set lo up && .venv/bin/python benchmarks/cluster_bench.py'

Both nodes run in this process on one SQLite file (the commands measured write nothing to
the database). A speaker on node A flips their mute as fast as commands complete, in R rooms
at once; a subscriber on node B counts the events as B's copy of each room publishes them.
Reported: commands/s completed on A, events/s delivered on B, command-to-delivery latency on
B (p50/p99), and the same commands on a single in-memory node as the baseline (ratio).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from podium.api.app import Services, create_app
from podium.clock import SystemClock
from podium.config import Settings
from podium.domain import commands as c

HERE = Path(__file__).resolve().parent


@contextlib.asynccontextmanager
async def node(tmp: Path, **overrides: Any) -> Any:
    settings = Settings(data_dir=tmp, database_url=f"sqlite+aiosqlite:///{tmp / 'podium.db'}",
                        secret_key="bench", ice_hosts=["127.0.0.1"], **overrides)
    app = create_app(settings, clock=SystemClock(), run_ticker=False)
    async with app.router.lifespan_context(app):
        yield app.state.podium


async def run(a: Services, b: Services, rooms: int, per_room: int) -> dict[str, float]:
    accounts = [await a.accounts.create_user(f"h{time.monotonic_ns()}{i}", "Host", "password-xyz")
                for i in range(rooms)]
    lives = [await a.rooms.create(acc, f"Bench {i}", "", "open", announce=False)
             for i, acc in enumerate(accounts)]
    for live, acc in zip(lives, accounts, strict=True):
        await a.rooms.join(live.room_id, acc, "bench")
    sent: dict[tuple[str, int], float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    want = rooms * per_room
    got = 0

    def on_event(message: dict[str, Any]) -> None:
        nonlocal got
        if message["event"].get("type") != "mute_changed":
            return
        at = sent.get((message["room_id"], message["rev"]))
        got += 1
        if at is not None:
            latencies.append(time.perf_counter() - at)
        if got >= want:
            done.set()

    for live in lives:
        deadline = time.monotonic() + 10
        while live.room_id not in b.rooms.rooms:  # B's copy appears via the rooms stream
            assert time.monotonic() < deadline, "node B never saw the room"
            await asyncio.sleep(0.01)
        b.bus.subscribe(f"room:{live.room_id}", on_event)

    async def speaker(live: Any, acc: Any) -> None:
        for i in range(per_room):
            # The event's revision is the room's next one (nothing else happens in the room).
            sent[(live.room_id, live.rev + 1)] = time.perf_counter()
            await a.rooms.execute(live.room_id, c.SetMuted(acc.id, i % 2 == 0))

    t0 = time.perf_counter()
    await asyncio.gather(*(speaker(live, acc) for live, acc in zip(lives, accounts,
                                                                     strict=True)))
    t_sent = time.perf_counter() - t0
    await asyncio.wait_for(done.wait(), 60)
    t_all = time.perf_counter() - t0
    latencies.sort()
    return {"commands_per_s": want / t_sent, "events_per_s_delivered": want / t_all,
            "latency_p50_ms": 1000 * statistics.median(latencies),
            "latency_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))]}


async def bench(args: argparse.Namespace, tmp: Path) -> None:
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                               "load_average": os.getloadavg()[0], "runs": []}
    url = "redis://127.0.0.1:6391/0"
    for rooms in [int(r) for r in args.rooms.split(",")]:
        for kind in ("memory", "redis"):
            sub = tmp / f"{kind}{rooms}"
            sub.mkdir()
            if kind == "memory":
                async with node(sub) as one:
                    figures = await run(one, one, rooms, args.per_room)
            else:
                shared = {"event_bus": "redis", "redis_url": url, "redis_prefix": f"b{rooms}:"}
                async with node(sub, **shared) as a, node(sub, **shared) as b:
                    figures = await run(a, b, rooms, args.per_room)
            row = {"rooms": rooms, "bus": kind, **{k: round(v, 2) for k, v in figures.items()}}
            print(json.dumps(row), flush=True)
            results["runs"].append(row)
    for rooms in {r["rooms"] for r in results["runs"]}:
        mem, red = (next(r for r in results["runs"] if r["rooms"] == rooms and r["bus"] == k)
                    for k in ("memory", "redis"))
        ratio = red["events_per_s_delivered"] / mem["events_per_s_delivered"]
        print(f"{rooms} room(s): two nodes over Redis deliver {red['events_per_s_delivered']:.0f} "
              f"events/s = {ratio:.2f}x one node in memory "
              f"({mem['events_per_s_delivered']:.0f}/s); p50 {red['latency_p50_ms']} ms")
    if not args.no_save:
        out = HERE / "results" / f"cluster-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
        out.write_text(json.dumps(results, indent=1) + "\n")
        print(f"saved {out}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rooms", default="1,8")
    parser.add_argument("--per-room", type=int, default=1000)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="podium-cluster-bench-"))
    redis = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", "6391",
                              "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                              "--dir", str(tmp)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):  # wait until Redis answers
            if subprocess.run(["redis-cli", "-p", "6391", "ping"], capture_output=True,
                              check=False).stdout.strip() == b"PONG":
                break
            time.sleep(0.05)
        asyncio.run(bench(args, tmp))
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
