"""Listener load generator: N real WebRTC listeners that count delivered RTP cheaply.

Targets: ``podium`` (bench_server.py's Unix socket), ``podium-http`` (a real ``podium serve``:
POST /rooms/{id}/join then /rtc with one API token per listener, from ``--tokens``, a JSON list)
or ``janus`` (Streaming plugin over the HTTP API). See benchlib/listener.py for how packets are
counted at the listener. ``--timestamps`` adds each listener's longest gap between RTP arrivals
(kernel receive times, benchlib/batchrecv.py) to every mark.

Control protocol (so several generator processes can share one measurement window):
after setup it prints one JSON line ``{"event": "ready", ...}``; then each ``mark`` line
on stdin is answered with a snapshot (packet counts, its own CPU and RSS); ``quit`` exits.

    python benchmarks/loadgen.py --target podium --socket /tmp/podium.sock -n 500
    python benchmarks/loadgen.py --target janus --ice-host 127.0.0.2 -n 1000
    python benchmarks/loadgen.py --target podium-http --base-url http://127.0.0.1:8000/api/v1 \
        --tokens tokens.json --room ROOM_ID -n 500 --timestamps
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# aioice gives each consent check 0.5 s and no retransmission, and closes after 6 misses in a
# row. A browser waits 30 s for any answer. One busy generator process (thousands of
# handshakes, recvmmsg every 100 ms) misses 0.5 s often enough to drop its own, healthy
# listeners, which would be counted against the server: be as patient as a browser here.
# (The server's own consent checks of the listeners are untouched.)
import aioice.ice  # noqa: E402
from benchlib import procstat  # noqa: E402
from benchlib.batchrecv import BatchReceiver  # noqa: E402
from benchlib.listener import FastListener, reuse_one_certificate  # noqa: E402
from benchlib.signalling import JanusHttp, PodiumHttp  # noqa: E402

aioice.ice.CONSENT_FAILURES = 60


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


_tokens: list[str] = []


def load_tokens(path: str | None) -> None:
    if path:
        with open(path) as fh:
            _tokens.extend(json.load(fh))


async def join_one(args: argparse.Namespace, index: int, janus: JanusHttp) -> FastListener:
    listener = FastListener(args.ice_host, drop_rate=args.drop)
    if args.target == "podium":
        await listener.join_podium(args.socket, args.room, args.uid_base + index)
    elif args.target == "podium-http":
        http = PodiumHttp(args.base_url)
        await listener.join_podium_http(http, _tokens[args.token_offset + index], args.room)
    else:
        await listener.join_janus(janus, args.mountpoint)
    return listener


async def setup(
    args: argparse.Namespace, batch: BatchReceiver | None
) -> tuple[list[FastListener], dict[str, Any]]:
    """Connect the listeners; each goes to ``batch`` (recvmmsg) as soon as it is connected.

    Counting per datagram in asyncio while the rest are still connecting would saturate this
    process at ~1,000 listeners: sockets overflow, the STUN consent checks in them are lost
    and established listeners time out (aioice closes after ~30 s without consent).
    """
    janus = JanusHttp(port=args.janus_port)
    batched = 0

    def keep(listener: FastListener) -> None:
        nonlocal batched
        listeners.append(listener)
        if batch is not None and listener.move_to(batch):
            batched += 1

    listeners: list[FastListener] = []
    errors: list[str] = []
    joins_ms: list[float] = []
    t0 = time.monotonic()
    deadline = t0 + args.setup_timeout

    # 1. sequential joins, each timed from its offer/watch to its first RTP packet
    for i in range(min(args.timed_joins, args.n)):
        try:
            listener = await join_one(args, i, janus)
            if await listener.wait_audio(10.0) and listener.first_at is not None:
                joins_ms.append((listener.first_at - listener.started_at) * 1000)
            keep(listener)
        except Exception as exc:
            errors.append(repr(exc))

    # 2. the rest, a few at a time. A slot is held until that listener's ICE + DTLS has
    # finished, not just its signalling: aiortc connects in the background, and thousands
    # of handshakes at once starve each other's retransmission timers until most fail.
    # A listener that fails is thrown away and retried (same uid: the server replaces it).
    sem = asyncio.Semaphore(args.concurrency)

    async def guarded(i: int) -> None:
        async with sem:
            for attempt in range(1 + args.retries):
                if time.monotonic() > deadline:
                    errors.append("setup deadline")
                    return
                listener: FastListener | None = None
                try:
                    listener = await asyncio.wait_for(join_one(args, i, janus), 30)
                    if await listener.wait_settled(args.connect_timeout):
                        keep(listener)
                        return
                    error = f"not connected ({listener.pc.connectionState})"
                except Exception as exc:
                    error = repr(exc)
                if listener is not None:
                    await listener.close()
                if attempt == args.retries:
                    errors.append(error)
                else:
                    retried.append(error)

    retried: list[str] = []
    await asyncio.gather(*(guarded(i) for i in range(len(listeners) + len(errors), args.n)))
    while time.monotonic() < deadline and sum(x.connected for x in listeners) < len(listeners):  # noqa: ASYNC110, E501
        await asyncio.sleep(0.25)
    # every connected listener should have had a first packet; give stragglers a moment
    end = time.monotonic() + 5
    while time.monotonic() < end and any(x.first_at is None for x in listeners if x.connected):  # noqa: ASYNC110, E501
        await asyncio.sleep(0.1)
    info = {
        "event": "ready",
        "pid": os.getpid(),
        "requested": args.n,
        "created": len(listeners),
        "connected": sum(x.connected for x in listeners),
        "with_audio": sum(x.first_at is not None for x in listeners),
        "setup_s": round(time.monotonic() - t0, 2),
        "join_to_first_audio_ms": [round(x, 1) for x in joins_ms],
        "errors": errors[:5],
        "error_count": len(errors),
        "retried": len(retried),
        "batched": batched,
    }
    return listeners, info


def snapshot(listeners: list[FastListener]) -> dict[str, Any]:
    use = procstat.cpu()
    return {
        "event": "mark",
        "t": time.monotonic(),
        "cpu_user": use.user,
        "cpu_sys": use.system,
        "rss_mb": round(procstat.rss_mb(), 1),
        "per_listener": [x.packets for x in listeners if x.connected],
        "dropped": sum(x.dropped for x in listeners),
        "verified_ok": sum(x.verified_ok for x in listeners),
        "verified_bad": sum(x.verified_bad for x in listeners),
        "connected": sum(x.connected for x in listeners),
    }


def gap_snapshot(listeners: list[FastListener], now_ns: int) -> dict[str, Any]:
    """Per listener (all of them, in setup order, so two marks line up even if some dropped):
    packets so far, and the longest RTP gap and gaps > 60 / > 100 ms since the last mark."""
    gaps = [x.sink.take_gaps(now_ns) if x.sink else (None, 0, 0) for x in listeners]
    return {
        "mark_ns": now_ns,
        "packets_all": [x.packets for x in listeners],
        "gap_ms": [None if g[0] is None else round(g[0], 1) for g in gaps],
        "over_60": [g[1] for g in gaps],
        "over_100": [g[2] for g in gaps],
    }


async def main(args: argparse.Namespace) -> None:
    load_tokens(args.tokens)
    if args.share_cert:
        reuse_one_certificate()
    batch = None
    if args.batch_tick > 0:
        batch = BatchReceiver(args.batch_tick, timestamps=args.timestamps)
        batch.start()
    listeners, info = await setup(args, batch)
    emit(info)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    profiler = None
    while line := await reader.readline():
        command = line.decode().strip()
        if command == "mark":
            now_ns = time.time_ns()  # before draining: the window ends when the mark came
            if batch is not None:
                # Count what is already in the sockets: otherwise up to one tick (100 ms) of
                # packets, more after a stall, lands in the wrong window (loss came out < 0).
                batch.drain()
            gaps = gap_snapshot(listeners, now_ns) if args.timestamps else {}
            emit({**snapshot(listeners), **gaps, "syscalls": batch.syscalls if batch else None})
            if args.profile and profiler is None:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            elif profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
        elif command == "quit":
            break
    # No orderly close: the target is torn down right after; closing thousands of peers
    # would only add minutes of DTLS alerts.
    os._exit(0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--target", choices=("podium", "podium-http", "janus"), required=True)
    parser.add_argument("-n", type=int, required=True, help="listeners in this process")
    parser.add_argument("--socket", default="/tmp/podium-bench.sock", help="podium signalling")
    parser.add_argument("--room", default="bench")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/api/v1", help="podium-http")
    parser.add_argument("--tokens", help="podium-http: JSON list of API tokens, one a listener")
    parser.add_argument("--token-offset", type=int, default=0, help="this process's first token")
    parser.add_argument(
        "--timestamps", action="store_true",
        help="kernel arrival times (SO_TIMESTAMPNS): per-listener RTP gaps in each mark",
    )  # fmt: skip
    parser.add_argument(
        "--share-cert", action="store_true", help="one DTLS certificate for all listeners"
    )
    parser.add_argument("--uid-base", type=int, default=1000)
    parser.add_argument("--janus-port", type=int, default=8088)
    parser.add_argument("--mountpoint", type=int, default=1)
    parser.add_argument("--ice-host", default="127.0.0.1")
    parser.add_argument(
        "--concurrency", type=int, default=24, help="listeners setting up at once (to connected)"
    )
    parser.add_argument("--connect-timeout", type=float, default=20.0, help="ICE + DTLS, per try")
    parser.add_argument("--retries", type=int, default=2, help="new tries for a failed listener")
    parser.add_argument("--timed-joins", type=int, default=0, help="first K joins sequential")
    parser.add_argument("--setup-timeout", type=float, default=120.0)
    parser.add_argument(
        "--batch-tick", type=float, default=0.1,
        help="after setup, drain sockets with recvmmsg every TICK s (0 = per-datagram asyncio)",
    )  # fmt: skip
    parser.add_argument("--profile", help="cProfile the window between two marks to this file")
    parser.add_argument("--drop", type=float, default=0.0, help="drop this share of RTP")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(parse_args()))
