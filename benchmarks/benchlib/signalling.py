"""Client side of the signalling paths: Podium's bench server (Unix socket, JSON lines),
Podium's own HTTP API (``podium serve``: join, rtc, sign-in) and Janus's HTTP API (Streaming
plugin ``watch`` / ``start``)."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any


async def podium_request(socket_path: str, message: dict[str, Any]) -> dict[str, Any]:
    """One request/response on the bench server's Unix socket (one JSON object per line)."""
    reader, writer = await asyncio.open_unix_connection(socket_path, limit=1 << 20)
    try:
        writer.write(json.dumps(message).encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
    finally:
        writer.close()
    if not line:
        raise ConnectionError("bench server closed the connection")
    reply: dict[str, Any] = json.loads(line)
    if not reply.get("ok"):
        raise RuntimeError(f"bench server: {reply.get('error')}")
    return reply


class PodiumHttp:
    """Just enough HTTP/1.1 for Podium's JSON API: one TCP connection per request.

    httpx costs a load generator several times more CPU per request; thousands of listeners
    are set up through this, so it stays a plain socket write and read.
    """

    def __init__(self, base_url: str) -> None:
        rest = base_url.removeprefix("http://").rstrip("/")
        hostport, _, prefix = rest.partition("/")
        host, _, port = hostport.partition(":")
        self.host, self.port = host, int(port or 80)
        self.prefix = f"/{prefix}" if prefix else ""

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[int, Any]:
        """(status, decoded JSON body or None) for one request to ``prefix + path``."""
        data = json.dumps(body).encode() if body is not None else b""
        head = [
            f"{method} {self.prefix}{path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Connection: close",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            "X-Podium-CSRF: 1",  # what the browser client sends (needed only with a cookie)
        ]
        if token:
            head.append(f"Authorization: Bearer {token}")
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        header, _, payload = raw.partition(b"\r\n\r\n")
        if not header:
            raise ConnectionError(f"{method} {path}: connection closed without a response")
        status = int(header.split(b" ", 2)[1])
        if b"transfer-encoding: chunked" in header.lower():
            payload = _dechunk(payload)
        try:
            return status, json.loads(payload) if payload else None
        except ValueError:
            return status, None

    async def post(self, path: str, body: dict[str, Any] | None, token: str | None) -> Any:
        """POST and return the JSON body; a status other than 2xx raises ``HttpError``."""
        status, reply = await self.request("POST", path, body, token)
        if not 200 <= status < 300:
            raise HttpError(status, reply)
        return reply


class HttpError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status


class JanusHttp:
    """Just enough of the Janus HTTP API (plain JSON, one TCP connection per request)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8088, base: str = "/janus") -> None:
        self.host, self.port, self.base = host, port, base

    async def _http(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        try:
            data = json.dumps(body).encode() if body is not None else b""
            head = (
                f"{method} {self.base}{path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Connection: close\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n"
            )
            writer.write(head.encode() + data)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        header, _, payload = raw.partition(b"\r\n\r\n")
        if b"transfer-encoding: chunked" in header.lower():
            payload = _dechunk(payload)
        return json.loads(payload)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": secrets.token_hex(6)}
        reply: dict[str, Any] = await self._http("POST", path, body)
        if reply.get("janus") == "error":
            raise RuntimeError(f"janus: {reply}")
        return reply

    async def watch(self, mountpoint: int) -> tuple[int, int, str]:
        """create + attach streaming + watch; returns (session, handle, offer SDP)."""
        session = (await self._post("", {"janus": "create"}))["data"]["id"]
        handle = (
            await self._post(f"/{session}", {"janus": "attach", "plugin": "janus.plugin.streaming"})
        )["data"]["id"]
        await self._post(
            f"/{session}/{handle}",
            {"janus": "message", "body": {"request": "watch", "id": mountpoint}},
        )
        for _ in range(20):  # long-poll for the event carrying the JSEP offer (bounded)
            events = await self._http("GET", f"/{session}?maxev=5")
            for event in events if isinstance(events, list) else [events]:
                if event.get("janus") == "event":
                    if "error" in json.dumps(event.get("plugindata", {})):
                        raise RuntimeError(f"janus watch failed: {event}")
                    if "jsep" in event:
                        return session, handle, str(event["jsep"]["sdp"])
        raise TimeoutError("janus sent no offer")

    async def start(self, session: int, handle: int, answer_sdp: str) -> None:
        await self._post(
            f"/{session}/{handle}",
            {
                "janus": "message",
                "body": {"request": "start"},
                "jsep": {"type": "answer", "sdp": answer_sdp},
            },
        )


def _dechunk(payload: bytes) -> bytes:
    out = bytearray()
    rest = payload
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return bytes(out)
