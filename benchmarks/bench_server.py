"""Podium media bench server: one ``MediaEngine`` and a Unix-socket signalling endpoint.

The engine class is chosen by dotted path (default ``podium.media.embedded.EmbeddedEngine``),
constructed as ``cls(settings)`` with a ``podium.config.Settings`` whose ``ice_hosts`` is the
loopback address, started, and given the heard set ``{1..S}`` for the room. Speakers
(feeder.py) and listeners (loadgen.py) connect with::

    {"op": "connect", "room": ROOM, "uid": UID, "sdp": OFFER}   -> {"ok": true, "sdp": ANSWER}
    {"op": "disconnect", "room": ROOM, "uid": UID}              -> {"ok": true}
    {"op": "stats"}  -> {"ok": true, "peers": .., "rooms": .., "tasks": .., "rss_mb": ..}

one JSON object per line. The orchestrator (run.py) samples this process's CPU from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import resource
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


from benchlib import procstat  # noqa: E402

from podium.config import Settings  # noqa: E402
from podium.media.engine import MediaEngine, MediaEngineError, SessionDescription  # noqa: E402

DEFAULT_ENGINE = "podium.media.embedded.EmbeddedEngine"


def load_engine(dotted: str, settings: Settings) -> MediaEngine:
    module_name, _, class_name = dotted.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    engine: MediaEngine = cls(settings)
    return engine


class SignallingServer:
    def __init__(self, engine: MediaEngine) -> None:
        self.engine = engine

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply = await self.dispatch(json.loads(line))
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def dispatch(self, msg: dict[str, Any]) -> dict[str, Any]:
        op = msg.get("op")
        try:
            if op == "connect":
                offer = SessionDescription(sdp=msg["sdp"], type="offer")
                answer = await self.engine.connect(msg["room"], int(msg["uid"]), offer)
                return {"ok": True, "sdp": answer.sdp}
            if op == "disconnect":
                await self.engine.disconnect(msg["room"], int(msg["uid"]))
                return {"ok": True}
            if op == "stats":
                stats = self.engine.stats()
                return {
                    "ok": True,
                    "rooms": stats.rooms,
                    "peers": stats.peers,
                    "tasks": stats.tasks,
                    "rss_mb": procstat.rss_mb(),
                    "threads": procstat.threads(),
                }
        except MediaEngineError as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # report, keep serving
            logging.exception("signalling op %s failed", op)
            return {"ok": False, "error": repr(exc)}
        return {"ok": False, "error": f"unknown op {op!r}"}


async def main(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    tmp = Path(tempfile.mkdtemp(prefix="podium-bench-server-"))
    settings = Settings(ice_hosts=[args.ice_host], secret_key="bench", data_dir=tmp)
    engine = load_engine(args.engine, settings)
    await engine.start()
    await engine.set_heard(args.room, frozenset(range(1, args.speakers + 1)))
    captioner = None
    captions = os.environ.get("PODIUM_BENCH_CAPTIONS", "0")  # benchmarks/captions.py
    if captions in ("1", "tap"):
        import time

        from podium.captions.pipeline import Captioner

        captioner = Captioner(lambda caption: None)
        if captions == "1":  # "tap": the engine side alone (no recogniser: chunks are dropped)
            captioner.start()
            await captioner.ready()
        engine.set_caption_sink(args.room, captioner.open_room(args.room, time.time()),
                                frozenset(range(1, args.speakers + 1)))
    handler = SignallingServer(engine)
    if os.path.exists(args.socket):  # noqa: ASYNC240 (once, at startup)
        os.unlink(args.socket)
    server = await asyncio.start_unix_server(handler.handle, path=args.socket, limit=1 << 20)
    try:
        from podium.media.fanout import COMPILED as compiled
    except ImportError:  # an older src/podium
        compiled = False
    ready = {"event": "ready", "pid": os.getpid(), "engine": args.engine, "compiled": compiled,
             "recognisers": captioner.pids() if captioner is not None else []}
    print(json.dumps(ready), flush=True)
    async with server:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        await stop.wait()
    # Exit without closing thousands of peers one by one: the process is going away. Worker
    # processes (their own session) would otherwise close theirs gracefully for minutes, on
    # the server's core, while the next case is measured: kill them first.
    pids = getattr(getattr(engine, "pool", None), "pids", lambda: [])()
    pids += captioner.pids() if captioner is not None else []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    os._exit(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--engine", default=DEFAULT_ENGINE, help="dotted path of the engine class")
    parser.add_argument("--socket", default="/tmp/podium-bench.sock")
    parser.add_argument("--room", default="bench")
    parser.add_argument("--speakers", type=int, default=1, help="heard set = uids 1..S")
    parser.add_argument("--ice-host", default="127.0.0.1")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main(parser.parse_args()))
