"""Operations routes: ``GET /healthz`` (readiness) and ``GET /metrics`` (Prometheus text format).

Both are public (no session, no token), like ``/api/v1/health``: monitoring systems scrape them
without credentials. They reveal counts, never names or ids; docs/deployment.md shows how to keep
them to the monitoring network at the reverse proxy.

- ``/healthz``: 200 when the database answers, the media engine runs (for Janus: at least one
  instance answers) and Redis answers (only if ``PODIUM_REDIS_URL`` is set); 503 otherwise. The
  JSON body names each check. Liveness (is the process serving at all?) is ``/api/v1/health``.
- ``/metrics``: written by hand in the Prometheus text exposition format 0.0.4 (no client
  library needed): live rooms and members by role, WebSocket sessions and connections, media
  engine rooms/peers/tasks, event-bus counters and publish-to-delivery lag (Redis bus), Janus
  instances, and the process's CPU time, resident memory and open files.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import text

from podium import __version__
from podium.api.state import Services as ServicesLike
from podium.collector import collector
from podium.domain.roles import Role
from podium.realtime.redis_roomlog import RedisRoomLog

CHECK_TIMEOUT = 3.0
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STARTED = time.time()

router = APIRouter(tags=["ops"])


class Health(BaseModel):
    status: str  # "ok" or "fail"
    version: str
    checks: dict[str, dict[str, Any]]


def _services(request: Request) -> ServicesLike:
    return request.app.state.podium  # type: ignore[no-any-return]


# Readiness -----------------------------------------------------------------------------------

async def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result: dict[str, Any] = await asyncio.wait_for(check, CHECK_TIMEOUT)
    except TimeoutError:
        result = {"ok": False, "error": f"no answer within {CHECK_TIMEOUT:g} s"}
    except Exception as exc:  # a failing check is reported, never raised
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


async def _database(services: ServicesLike) -> dict[str, Any]:
    async with services.db.transaction() as session:
        await session.execute(text("SELECT 1"))
    return {"ok": True}


def media_running(media: object) -> bool:
    state = getattr(media, "_state", None)  # EmbeddedEngine
    if state is not None:
        return str(getattr(state, "name", state)).upper().endswith("RUNNING")
    return bool(getattr(media, "_running", False))  # JanusEngine


async def _media(services: ServicesLike) -> dict[str, Any]:
    engine = services.settings.media_engine
    result: dict[str, Any] = {"ok": media_running(services.media), "engine": engine}
    health = getattr(services.media, "health", None)
    if callable(health):
        instances = await health()
        result["instances"] = instances
        result["ok"] = result["ok"] and any(i.get("ok") for i in instances)
    return result


async def _redis(services: ServicesLike) -> dict[str, Any]:
    bus = services.redis_bus
    if bus is not None:
        return {"ok": await bus.ping() and bus.connected, "bus": True}
    import redis.asyncio as redis

    client = redis.Redis.from_url(services.settings.redis_url, socket_timeout=CHECK_TIMEOUT,
                                  socket_connect_timeout=CHECK_TIMEOUT)
    try:
        return {"ok": bool(await client.ping())}
    finally:
        await client.aclose()


@router.get("/healthz", response_model=Health,
            responses={503: {"model": Health, "description": "A check failed"}})
async def healthz(request: Request) -> JSONResponse:
    services = _services(request)
    names = ["database", "media"]
    checks = [_timed(_database(services)), _timed(_media(services))]
    if services.settings.redis_url:
        names.append("redis")
        checks.append(_timed(_redis(services)))
    results = dict(zip(names, await asyncio.gather(*checks), strict=True))
    ok = all(r["ok"] for r in results.values())
    body = Health(status="ok" if ok else "fail", version=__version__, checks=results)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503,
                        headers={"Cache-Control": "no-store"})


# Metrics -------------------------------------------------------------------------------------

class Exposition:
    """Prometheus text format: HELP and TYPE once per family, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[dict[str, str], float]] | float) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        if isinstance(samples, int | float):
            samples = [({}, samples)]
        for labels, value in samples:
            self.sample(name, labels, value)

    def sample(self, name: str, labels: dict[str, str], value: float) -> None:
        if labels:
            inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            name = f"{name}{{{inner}}}"
        self.lines.append(f"{name} {_number(value)}")

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: peak RSS is the best we have
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


async def render_metrics(services: ServicesLike) -> str:
    out = Exposition()
    out.family("podium_info", "gauge", "Podium version and engines.",
               [({"version": __version__, "media_engine": services.settings.media_engine,
                  "event_bus": "redis" if services.redis_bus else "memory"},
                 1)])

    # Rooms and members (this node's live rooms).
    rooms = list(services.rooms.rooms.values())
    by_role = dict.fromkeys(Role, 0)
    heard = 0
    for live in rooms:
        for m in live.state.members.values():
            by_role[m.role] += 1
        heard += len(live.heard)
    out.family("podium_live_rooms", "gauge", "Live rooms on this node.", len(rooms))
    out.family("podium_room_members", "gauge", "People present in live rooms, by role.",
               [({"role": role.value}, count) for role, count in by_role.items()])
    out.family("podium_listeners", "gauge", "People in the audience of live rooms.",
               by_role[Role.LISTENER])
    out.family("podium_speakers", "gauge", "People on stage (speakers and moderators).",
               by_role[Role.SPEAKER] + by_role[Role.MODERATOR])
    out.family("podium_heard_speakers", "gauge", "People on stage and unmuted (mixed).", heard)

    # WebSocket gateway.
    sessions = list(services.gateway.sessions.values())
    connected = sum(1 for s in sessions if s.queue is not None)
    out.family("podium_websocket_sessions", "gauge",
               "WebSocket sessions, connected or within their resume window.", len(sessions))
    out.family("podium_websocket_connections", "gauge", "Open WebSocket connections.", connected)

    # Media engine: what MediaEngine.stats() reports (no packet or byte counters yet).
    stats = services.media.stats()
    out.family("podium_media_up", "gauge", "1 if the media engine is running.",
               int(media_running(services.media)))
    out.family("podium_media_rooms", "gauge", "Rooms with media in the engine.", stats.rooms)
    out.family("podium_media_peers", "gauge", "Peer connections in the media engine.",
               stats.peers)
    out.family("podium_media_tasks", "gauge", "Media engine background tasks.", stats.tasks)
    out.family("podium_media_setups_waiting", "gauge",
               "Audio connections waiting their turn to be negotiated (a join storm).",
               services.rooms.setups_waiting)
    captioner = services.captions.captioner  # started with the first captioned room
    if captioner is not None:
        cs = captioner.stats
        out.family("podium_caption_chunks_total", "counter",
                   "Speech chunks cut for the recognisers, by what became of them.",
                   [({"outcome": "recognised"}, cs.processed),
                    ({"outcome": "dropped"}, cs.dropped)])
        out.family("podium_captions_total", "counter", "Captions sent to rooms.", cs.captions)
        out.family("podium_caption_cpu_seconds_total", "counter",
                   "Recogniser CPU time.", round(cs.cpu_seconds, 3))
    out.family("podium_gc_collections_total", "counter",
               "This process's scheduled garbage collections (podium.collector), by kind.",
               [({"kind": "minor"}, collector.minor), ({"kind": "major"}, collector.major)])
    health = getattr(services.media, "health", None)
    if callable(health):
        try:
            instances: list[dict[str, Any]] = await asyncio.wait_for(health(), CHECK_TIMEOUT)
        except Exception:  # reported as "no instance answered"
            instances = []
        labelled = [({"instance": str(i["instance"]), "url": str(i["url"])}, i) for i in instances]
        out.family("podium_janus_instance_up", "gauge", "1 if the Janus instance answers.",
                   [(lab, int(bool(i.get("ok")))) for lab, i in labelled])
        out.family("podium_janus_instance_rtt_seconds", "gauge",
                   "Round trip of a Janus info request.",
                   [(lab, float(i["rtt_ms"]) / 1000) for lab, i in labelled if "rtt_ms" in i])
        out.family("podium_janus_instance_participants", "gauge",
                   "Participants Podium placed on the Janus instance.",
                   [(lab, int(i.get("participants", 0))) for lab, i in labelled])

    # Event bus.
    topic_count = getattr(services.bus, "topic_count", None)
    if callable(topic_count):
        out.family("podium_event_bus_topics", "gauge", "Topics with subscribers on this node.",
                   int(topic_count()))
    if services.redis_bus is not None:
        s = services.redis_bus.stats
        out.family("podium_event_bus_connected", "gauge", "1 if the Redis subscriber is up.",
                   int(services.redis_bus.connected))
        out.family("podium_event_bus_published_total", "counter", "Messages published.",
                   s.published)
        out.family("podium_event_bus_delivered_total", "counter",
                   "Messages delivered to local handlers.", s.delivered)
        out.family("podium_event_bus_publish_errors_total", "counter",
                   "Messages lost because Redis could not be reached.", s.publish_errors)
        out.family("podium_event_bus_handler_errors_total", "counter",
                   "Handlers that raised.", s.handler_errors)
        out.family("podium_event_bus_reconnects_total", "counter",
                   "Reconnections to Redis.", s.reconnects)
        out.lines.append("# HELP podium_event_bus_lag_seconds Publish-to-delivery delay.")
        out.lines.append("# TYPE podium_event_bus_lag_seconds summary")
        out.sample("podium_event_bus_lag_seconds_sum", {}, s.lag_sum)
        out.sample("podium_event_bus_lag_seconds_count", {}, s.lag_count)
        out.family("podium_event_bus_lag_last_seconds", "gauge",
                   "Publish-to-delivery delay of the latest message.", s.lag_last)
        out.family("podium_event_bus_lag_max_seconds", "gauge",
                   "Largest publish-to-delivery delay seen.", s.lag_max)
        roomlog = services.rooms.log
        if isinstance(roomlog, RedisRoomLog):
            log_stats = roomlog.stats()
            out.family("podium_cluster_leader", "gauge",
                       "1 if this node runs the room ticks.", int(log_stats["leader"]))
            out.family("podium_room_log_entries_written_total", "counter",
                       "Room log entries this node appended.", log_stats["entries_written"])
            out.family("podium_room_log_entries_read_total", "counter",
                       "Room log entries this node applied and published.",
                       log_stats["entries_read"])
    else:
        # The in-process bus calls handlers inside publish(): there is no delivery lag.
        out.family("podium_event_bus_lag_last_seconds", "gauge",
                   "Publish-to-delivery delay of the latest message.", 0)

    # Process.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out.family("process_cpu_seconds_total", "counter", "User and system CPU time spent.",
               usage.ru_utime + usage.ru_stime)
    out.family("process_resident_memory_bytes", "gauge", "Resident memory size.", _rss_bytes())
    out.family("process_start_time_seconds", "gauge", "Start time, seconds since the epoch.",
               _STARTED)
    fds = _open_fds()
    if fds is not None:
        out.family("process_open_fds", "gauge", "Open file descriptors.", fds)
    return out.render()


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format 0.0.4"}})
async def metrics(request: Request) -> PlainTextResponse:
    body = await render_metrics(_services(request))
    return PlainTextResponse(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
