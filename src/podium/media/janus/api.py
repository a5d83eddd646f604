"""An async client for the Janus HTTP API (long-poll), authenticated with an ``api_secret``.

One ``JanusSession`` per Janus instance: Podium owns every handle on it (browsers and bots
never see Janus or its secrets). Synchronous plugin requests return their ``plugindata``;
asynchronous ones (``join`` with a JSEP offer) resolve when the matching event arrives on the
session's long-poll. Events nobody waits for (``hangup``, ``detached``, plugin notifications)
go to ``on_event(handle_id, event)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

Json = dict[str, Any]
EventCallback = Callable[[int, Json], None]
KEEPALIVE_SECONDS = 20.0
REQUEST_TIMEOUT = 10.0


class JanusError(Exception):
    """Janus refused a request (or could not be reached); ``code`` is the plugin's error code."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class JanusInstanceConfig:
    url: str  # e.g. http://127.0.0.1:8088/janus
    api_secret: str = ""
    admin_url: str = ""  # e.g. http://127.0.0.1:7088/admin (optional: health and audits)

    @classmethod
    def parse(cls, entry: str) -> JanusInstanceConfig:
        """``url|api_secret[|admin_url]``."""
        parts = [p.strip() for p in entry.split("|")]
        if not parts[0].startswith(("http://", "https://")):
            raise ValueError(f"janus instance {parts[0]!r}: expected an http(s) URL")
        return cls(
            parts[0].rstrip("/"),
            parts[1] if len(parts) > 1 else "",
            parts[2].rstrip("/") if len(parts) > 2 else "",
        )

    @property
    def media_host(self) -> str:
        """Where this instance receives plain RTP (the API's host)."""
        return httpx.URL(self.url).host


def _tx() -> str:
    return secrets.token_hex(8)


class JanusSession:
    def __init__(
        self, config: JanusInstanceConfig, on_event: EventCallback, admin_secret: str = ""
    ) -> None:
        self.config = config
        self._admin_secret = admin_secret
        self._on_event = on_event
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(REQUEST_TIMEOUT, read=40.0))
        self.session_id: int | None = None
        self._waiting: dict[str, asyncio.Future[Json]] = {}
        self._poller: asyncio.Task[None] | None = None
        self.last_ok: float | None = None
        self.last_error: str = ""

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        reply = await self._post(self.config.url, {"janus": "create"})
        self.session_id = int(reply["data"]["id"])
        self._poller = asyncio.create_task(self._poll(), name=f"janus-poll-{self.session_id}")

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        if self.session_id is not None:
            with contextlib.suppress(JanusError, httpx.HTTPError):
                await self._post(self._session_url, {"janus": "destroy"})
            self.session_id = None
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(JanusError("session closed"))
        self._waiting.clear()
        await self._http.aclose()

    @property
    def polling(self) -> bool:
        return self._poller is not None and not self._poller.done()

    # -- the Janus API -----------------------------------------------------------------------

    async def attach(self, plugin: str) -> int:
        reply = await self._post(self._session_url, {"janus": "attach", "plugin": plugin})
        return int(reply["data"]["id"])

    async def detach(self, handle: int) -> None:
        with contextlib.suppress(JanusError, httpx.HTTPError):
            await self._post(f"{self._session_url}/{handle}", {"janus": "detach"})

    async def request(self, handle: int, body: Json) -> Json:
        """A synchronous plugin request: returns the plugin's data (raises on its errors)."""
        message = {"janus": "message", "body": body}
        reply = await self._post(f"{self._session_url}/{handle}", message)
        if reply.get("janus") != "success":
            raise JanusError(f"unexpected reply to {body.get('request')}: {reply.get('janus')}")
        return _plugin_data(reply)

    async def send_async(
        self, handle: int, body: Json, jsep: Json | None = None, timeout: float = REQUEST_TIMEOUT
    ) -> Json:
        """An asynchronous request: returns the whole event answering it (with any ``jsep``)."""
        tx = _tx()
        fut: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._waiting[tx] = fut
        message: Json = {"janus": "message", "body": body, "transaction": tx}
        if jsep is not None:
            message["jsep"] = jsep
        try:
            reply = await self._post(f"{self._session_url}/{handle}", message)
            if reply.get("janus") == "success":  # some "async" requests answer at once
                return reply
            event = await asyncio.wait_for(fut, timeout)
        finally:
            self._waiting.pop(tx, None)
        _plugin_data(event)  # raises JanusError on a plugin error
        return event

    async def info(self) -> Json:
        response = await self._http.get(f"{self.config.url}/info")
        response.raise_for_status()
        data: Json = response.json()
        return data

    async def admin(self, body: Json) -> Json:
        """An Admin API request (needs ``admin_url`` and the admin secret)."""
        if not self.config.admin_url:
            raise JanusError("no admin_url configured for this Janus instance")
        body = {**body, "transaction": _tx(), "admin_secret": self._admin_secret}
        response = await self._http.post(self.config.admin_url, json=body)
        reply: Json = response.json()
        if reply.get("janus") == "error":
            raise JanusError(str(reply.get("error", {}).get("reason", "admin error")))
        return reply

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def _session_url(self) -> str:
        if self.session_id is None:
            raise JanusError("no Janus session")
        return f"{self.config.url}/{self.session_id}"

    async def _post(self, url: str, message: Json) -> Json:
        message = {"transaction": _tx(), **message}
        if self.config.api_secret:
            message["apisecret"] = self.config.api_secret
        try:
            response = await self._http.post(url, json=message)
        except httpx.HTTPError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            raise JanusError(f"Janus at {self.config.url} unreachable") from exc
        reply: Json = response.json()
        if reply.get("janus") == "error":
            reason = str(reply.get("error", {}).get("reason", "error"))
            raise JanusError(reason)
        self.last_ok = time.monotonic()
        return reply

    async def _poll(self) -> None:
        params = {"maxev": "20"}
        if self.config.api_secret:
            params["apisecret"] = self.config.api_secret
        last_keepalive = time.monotonic()
        while True:
            try:
                response = await self._http.get(self._session_url, params=params)
                events = response.json()
                self.last_ok = time.monotonic()
            except (httpx.HTTPError, ValueError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("janus long-poll failed: %s", self.last_error)
                await asyncio.sleep(1.0)  # back off before polling a failing instance again
                continue
            for event in events if isinstance(events, list) else [events]:
                self._dispatch(event)
            if time.monotonic() - last_keepalive > KEEPALIVE_SECONDS:
                last_keepalive = time.monotonic()
                with contextlib.suppress(JanusError):
                    await self._post(self._session_url, {"janus": "keepalive"})

    def _dispatch(self, event: Json) -> None:
        kind = event.get("janus")
        if kind == "keepalive":
            return
        fut = self._waiting.get(str(event.get("transaction", "")))
        if fut is not None and kind == "event" and not fut.done():
            fut.set_result(event)
            return
        handle = event.get("sender")
        if isinstance(handle, int):
            try:
                self._on_event(handle, event)
            except Exception:
                log.exception("janus event callback failed")


def _plugin_data(reply: Json) -> Json:
    data: Json = reply.get("plugindata", {}).get("data", {})
    if "error" in data:
        code = data.get("error_code")
        raise JanusError(str(data["error"]), int(code) if isinstance(code, int) else None)
    return data
