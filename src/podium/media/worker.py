"""Entry point of one media worker process: ``python -m podium.media.worker FD CONFIG``.

Runs a ``PeerHost`` and serves the ``WorkerPool`` protocol on the inherited socket ``FD``
(see ``podium.media.workers``). Control requests for one user run strictly in order (a
disconnect never overtakes that user's connect); different users' requests run concurrently.
Exits when the main process closes the socket, or dies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from collections.abc import Awaitable
from typing import Any

from podium.collector import collector
from podium.media import ice
from podium.media.engine import MediaEngineError
from podium.media.host import PeerHost, RoomFrame
from podium.media.workers import MAX_BACKLOG, encode, read_message

log = logging.getLogger("podium.media.worker")


class WorkerServer:
    def __init__(self, writer: asyncio.StreamWriter, config: dict[str, Any]) -> None:
        self._writer = writer
        servers = config["ice_servers"]
        self.host = PeerHost(
            ice.validate_hosts(config["hosts"]),
            (list(servers[0]), list(servers[1]), str(servers[2]), str(servers[3])),
            self._rtp,
            self._gone,
            int(config.get("loss_floor", 0)),
            tuple(str(n) for n in config.get("remote_networks", ())),
        )
        self._chains: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, message: tuple[Any, ...], media: bool = False) -> None:
        if self._writer.is_closing():
            return
        if media and self._writer.transport.get_write_buffer_size() > MAX_BACKLOG:
            return
        self._writer.write(encode(message))

    def _rtp(self, room_id: str, user_id: int, timestamp: int, payload: bytes) -> None:
        self.send(("rtp", room_id, user_id, timestamp, payload), media=True)

    def _gone(self, room_id: str, user_id: int, peer_id: int) -> None:
        self.send(("gone", room_id, user_id, peer_id))

    def handle(self, message: tuple[Any, ...]) -> None:
        op = message[0]
        if op == "frame":
            _, room_id, pos, minus, shared, shared_pos = message
            self.host.deliver(room_id, RoomFrame(pos, minus, shared, shared_pos))
            collector.tick()  # a collection, if one is due, right after the packets went
        elif op == "heard":
            _, room_id, heard, shared_samples = message
            self.host.set_heard(room_id, heard, shared_samples)
        elif op == "connect":
            _, request, room_id, user_id, peer_id, sdp, heard = message
            self._chain((room_id, user_id), request,
                        self.host.connect(room_id, user_id, peer_id, sdp, heard))  # fmt: skip
        elif op == "disconnect":
            _, request, room_id, user_id = message
            self._chain((room_id, user_id), request, self.host.disconnect(room_id, user_id))
        elif op == "counts":
            self.send(("reply", message[1], True, self.host.counts()))

    def _chain(self, key: tuple[str, int], request: int, work: Awaitable[Any]) -> None:
        previous = self._chains.get(key)

        async def run() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                result = await work
            except MediaEngineError as exc:
                self.send(("reply", request, False, str(exc)))
            except Exception as exc:
                log.exception("worker request failed")
                self.send(("reply", request, False, f"media worker error: {type(exc).__name__}"))
            else:
                self.send(("reply", request, True, result))
            finally:
                if self._chains.get(key) is task:
                    del self._chains[key]

        task = asyncio.create_task(run())
        self._chains[key] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.host.close()


async def serve(fd: int, config: dict[str, Any]) -> None:
    ice.install()
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    server = WorkerServer(writer, config)
    collector.start()
    idle = asyncio.create_task(collector.run())  # when no room sends audio
    server.send(("ready",))
    try:
        while True:
            server.handle(await read_message(reader))
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the main process closed the socket (or died): shut down
    finally:
        idle.cancel()
        await server.close()
        writer.close()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="media-worker %(levelname)s %(message)s")
    asyncio.run(serve(int(sys.argv[1]), json.loads(sys.argv[2])))


if __name__ == "__main__":
    main()
