"""The ASGI application: wires settings, database, bus, media engine and services together."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, FastAPI, Query, WebSocket
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podium import __version__
from podium.api import ops
from podium.api.deps import identify, podium
from podium.api.errors import ERROR_RESPONSES, install_error_handlers
from podium.api.proxy import ProxyHeaders
from podium.api.routes import (
    auth,
    events,
    members,
    moderation,
    notifications,
    replays,
    rooms,
    social,
)
from podium.api.security import install_security, same_origin
from podium.api.state import Services
from podium.bus import EventBus, InProcessBus, SplitBus
from podium.clock import Clock, SystemClock
from podium.collector import collector
from podium.config import Settings
from podium.media.engine import MediaEngine
from podium.realtime.gateway import Gateway
from podium.realtime.redis_bus import RedisBus
from podium.services.accounts import Account, AccountService
from podium.services.captions import CaptionService
from podium.services.clips import ClipService
from podium.services.community import Community
from podium.services.credentials import Credential
from podium.services.moderation import ModerationService
from podium.services.ratelimit import RateLimiter
from podium.services.recordings import RecordingService
from podium.services.replays import ReplayService
from podium.services.rooms import RoomService
from podium.storage.db import Database

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent.parent / "web" / "static"
MAX_BODY = 256 * 1024
# Routes that take more (an avatar is at most 5 MB; the route checks that exactly).
LARGE_BODIES = {"/api/v1/profile/avatar": (5 * 1024 * 1024 + 1024, "Avatars are at most 5 MB.")}


def build_services(settings: Settings, clock: Clock, media: MediaEngine | None = None,
                   bus: EventBus | None = None) -> Services:
    db = Database(settings.database_url)
    redis_bus: RedisBus | None = None
    local = InProcessBus()
    if bus is None and settings.event_bus == "redis":  # several nodes: docs/deployment.md
        redis_bus = RedisBus(settings.redis_url, settings.redis_prefix)
        bus = SplitBus(local, redis_bus)
    bus = bus or local
    if media is None and settings.media_engine == "janus":
        from podium.media.janus.engine import JanusEngine

        media = JanusEngine(settings)
    if media is None:
        from podium.media.embedded import EmbeddedEngine

        media = EmbeddedEngine(settings)
    rooms_service = RoomService(db, bus, media, clock, settings)
    if redis_bus is not None:
        from podium.realtime.redis_roomlog import RedisRoomLog

        roomlog = RedisRoomLog(settings.redis_url, local, clock, settings.redis_prefix)
        rooms_service.log = roomlog
        from podium.media.janus.engine import JanusEngine

        if isinstance(media, JanusEngine):  # bridges and load shared by the nodes
            media.topology_lock = roomlog.mutex
            media.others_load = functools.partial(roomlog.others_load, "janus")
            media.report_load = functools.partial(roomlog.report_load, "janus")
            media.own = functools.partial(roomlog.own, "janus")
            media.disown = functools.partial(roomlog.disown, "janus")
            media.reclaim = functools.partial(roomlog.reclaim, "janus")
    limiter = RateLimiter(clock, settings)
    if redis_bus is not None:  # several nodes: one budget per caller across all of them
        from podium.services.ratelimit_redis import RedisRateLimiter

        limiter = RedisRateLimiter(clock, settings)
    gateway = Gateway(bus, rooms_service, settings.heartbeat_seconds,
                      settings.resume_window_seconds, limiter=limiter, rate=settings.ws_rate,
                      burst=settings.ws_burst, flood_limit=settings.ws_flood_limit)
    return Services(settings, db, bus, media, AccountService(db, clock, settings, limiter),
                    rooms_service, gateway, limiter, redis_bus)


class BodyLimit:
    """Refuse request bodies over MAX_BODY before they are read into memory."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limit, message = LARGE_BODIES.get(
                scope.get("path", ""), (MAX_BODY, "Request bodies are at most 256 KiB."))
            length = dict(scope.get("headers", [])).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                response = JSONResponse({"error": "too_large", "message": message}, 413)
                await response(scope, receive, send)
                return
            if length is None:
                # A streamed (chunked) body announces no length: count it as it arrives.
                receive = _limited(receive, limit, message)
        await self.app(scope, receive, send)


def _limited(receive: Receive, limit: int = MAX_BODY,
             text: str = "Request bodies are at most 256 KiB.") -> Receive:
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, text)
        return message

    return limited


def create_app(settings: Settings, clock: Clock | None = None, media: MediaEngine | None = None,
               run_ticker: bool = True, manage_gc: bool = False) -> FastAPI:
    """``manage_gc``: this process is the server (``podium serve``), not a test's: garbage
    collection keeps clear of the audio clock (``podium.collector``)."""
    clock = clock or SystemClock()
    services = build_services(settings, clock, media)
    services.community = Community(services.db, services.bus, clock, settings,
                                   services.accounts, services.rooms)
    services.moderation = ModerationService(services.db, clock, services.accounts,
                                            services.rooms, services.community.social,
                                            services.gateway, services.limiter)
    services.gateway.notifications = services.community.notifications
    services.gateway.moderation = services.moderation  # the remove_member command
    services.captions = CaptionService(services.db, services.rooms, clock, settings)
    services.recordings = RecordingService(services.rooms, clock, settings,
                                           services.community.notifications)
    services.replays = ReplayService(services.recordings, services.community.social.graph)
    services.clips = ClipService(services.replays)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.db.migrate()
        if services.redis_bus is not None:
            await services.redis_bus.start()
        await services.media.start()
        await services.rooms.start()
        await services.community.start()
        await services.moderation.start()
        await services.recordings.start()
        watch = services.accounts.watch
        watch.listeners += [services.gateway.end_credentials, services.rooms.end_media]
        await watch.start()
        services.tasks.append(asyncio.create_task(watch.run()))
        if run_ticker:
            services.tasks.append(asyncio.create_task(services.rooms.run_ticker()))
        services.tasks.append(asyncio.create_task(_collect_sessions(services)))
        if manage_gc:
            collector.start()  # after start-up: what exists now is never scanned again
            services.tasks.append(asyncio.create_task(collector.run()))
        try:
            yield
        finally:
            for task in services.tasks:
                task.cancel()
            await asyncio.gather(*services.tasks, return_exceptions=True)
            await services.gateway.close()
            await services.captions.close()
            await services.recordings.close()
            await services.rooms.close()
            await services.media.close()
            if services.redis_bus is not None:
                await services.redis_bus.close()
            await services.limiter.close()
            await services.db.close()

    app = FastAPI(title="Podium", version=__version__, lifespan=lifespan,
                  openapi_url="/api/v1/openapi.json", docs_url="/api/v1/docs", redoc_url=None)
    app.state.podium = services
    install_error_handlers(app)
    api = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
    for module in (auth, members, rooms, social, events, notifications, moderation, replays):
        api.include_router(module.router)

    @api.get("/health", tags=["meta"])
    async def health() -> dict[str, object]:
        return {"ok": True, "version": __version__}

    app.include_router(api)
    app.include_router(ops.router)  # /healthz, /metrics (api/ops.py)
    _mount_websocket(app, services)
    _mount_web(app)
    app.add_middleware(BodyLimit)
    install_security(app, settings)  # its headers go on every response, 413s too
    # Outermost: every later layer, and uvicorn's access log, sees the client's own address.
    app.add_middleware(ProxyHeaders, trusted=settings.trusted_proxies)
    return app


async def _collect_sessions(services: Services) -> None:
    while True:
        await asyncio.sleep(5)
        services.gateway.collect_garbage()


def _origin_ok(ws: WebSocket, settings: Settings) -> bool:
    """Browsers send Origin: a cookie-authenticated socket must come from our own pages."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    return same_origin(origin, ws.headers.get("host", ""), settings)


async def _ws_identity(ws: WebSocket, token: str | None,
                       settings: Settings) -> tuple[Account, Credential] | None:
    """A token (``Authorization: Bearer``, or ``?token=`` for clients that cannot send
    headers) or the session cookie, never one falling back to the other: a page of another
    origin on the same site (cookies ignore ports) gets the cookie sent along, so an empty or
    wrong token must not end in the cookie being used. A cookie needs our own Origin."""
    if token is not None:
        return await podium(ws).accounts.identify_token(token) if token else None
    scheme = ws.headers.get("authorization", "").strip().partition(" ")[0]
    if scheme.lower() != "bearer" and not _origin_ok(ws, settings):
        return None  # the cookie would be used: only from our own pages
    return await identify(ws)


def _mount_websocket(app: FastAPI, services: Services) -> None:
    @app.websocket("/api/v1/ws")
    async def websocket(ws: WebSocket, token: str | None = Query(None, max_length=100),
                        resume: str | None = Query(None, max_length=64),
                        last_seq: int | None = Query(None, ge=0),
                        room: str | None = Query(None, max_length=64),
                        rev: int | None = Query(None, ge=0),
                        notes: int | None = Query(None, ge=0)) -> None:
        found = await _ws_identity(ws, token, services.settings)
        if found is None:
            # Accept first: a close before the handshake is an HTTP 403, and the client would
            # never see the documented close code.
            await ws.accept()
            await ws.close(4001, "sign in first")
            return
        await services.gateway.serve(ws, found[0], found[1], resume, last_seq, room, rev, notes)


def _mount_web(app: FastAPI) -> None:
    if not (WEB / "index.html").exists():
        return
    app.mount("/static", StaticFiles(directory=WEB), name="static")
    index = WEB / "index.html"

    # The browser app routes on the client: every page path serves the same document.
    @app.get("/", include_in_schema=False)
    @app.get("/invite/{code}", include_in_schema=False)
    @app.get("/room/{room_id}", include_in_schema=False)
    @app.get("/invites", include_in_schema=False)
    @app.get("/signin", include_in_schema=False)
    @app.get("/u/{username}", include_in_schema=False)
    @app.get("/notifications", include_in_schema=False)
    @app.get("/events", include_in_schema=False)
    @app.get("/events/{event_id}", include_in_schema=False)
    @app.get("/admin", include_in_schema=False)
    @app.get("/replays/{replay_id}", include_in_schema=False)
    @app.get("/clips/{clip_id}", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
