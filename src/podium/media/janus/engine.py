"""``JanusEngine``: the ``MediaEngine`` Protocol carried out by one or more Janus instances.

Shape (why: docs/janus.md):

* Each participant's ONE peer connection is terminated by a Janus **AudioBridge** handle that
  Podium attaches on their behalf: the client's offer goes to ``join`` and Janus's answer comes
  back through Podium's signalling, so clients are unchanged. Every new participant goes to the
  least-loaded instance.
* The server decides who is heard with AudioBridge ``mute``/``unmute``: everyone joins muted and
  only the heard set is unmuted, so promotion and demotion need no renegotiation.
* A Podium room becomes one AudioBridge room per instance that has participants. The rooms are
  joined into one stage by **RTP forwarders**: each room forwards its ``stage`` group (its
  local participants, never what it received) to a plain-RTP participant in group
  ``cascade`` in every other room, so nothing loops.
* When an instance's last participant leaves, its room, forwarders and cascade handles go.

Several Podium nodes (``shared``): each node attaches its own handles for the participants
connected through it, but a Podium room maps to the same AudioBridge room id on every instance
(a hash of the room id), so the participants of all nodes meet in the same bridges. Bridges are
created and cascaded under a cluster-wide lock (``topology_lock``), idempotently (an existing
bridge or cascade is found and kept), and destroyed only when the room ends. Each node mutes and
unmutes its own participants from its copy of the room's heard set.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from podium.config import Settings
from podium.media import ice, tasks
from podium.media.engine import (
    EngineStats,
    LevelsCallback,
    MediaEngineError,
    NoCaptions,
    PeerGoneCallback,
    RecordingSink,
    SessionDescription,
)
from podium.media.janus.api import JanusError, JanusInstanceConfig, JanusSession, Json
from podium.media.janus.orphans import remove_orphans
from podium.media.offer import check_offer

log = logging.getLogger(__name__)

PLUGIN = "janus.plugin.audiobridge"
OPUS_PT = 111
LEVELS_SECONDS = 0.2
HEAL_SECONDS = 5.0  # shared: how often cascades lost with a dead node are looked for
ROOM_EXISTS = 486  # AudioBridge: "room already exists"
_NOBODY: frozenset[int] = frozenset()


def shared_room_id(room_id: str) -> int:
    """The AudioBridge room id every node uses for a Podium room."""
    return int.from_bytes(hashlib.sha256(room_id.encode()).digest()[:6], "big") % 2**52 + 1


@contextlib.asynccontextmanager
async def _no_lock(room_id: str) -> Any:
    yield


@dataclass(eq=False)
class _Member:
    user_id: int
    instance: int
    handle: int
    participant: int = 0
    muted: bool = True  # as Janus has it
    muting: asyncio.Lock = field(default_factory=asyncio.Lock)  # one mute request at a time


@dataclass(eq=False)
class _Bridge:
    """The room's AudioBridge room on one instance, and the cascades feeding it."""

    janus_room: int
    control: int  # a Podium handle for room requests
    cascade_in: dict[int, tuple[int, int]] = field(default_factory=dict)  # src -> (handle, port)
    cascade_ids: dict[int, int] = field(default_factory=dict)  # src -> participant id
    forwards: dict[int, int] = field(default_factory=dict)  # dst instance -> stream id


@dataclass(eq=False)
class _Room:
    room_id: str
    bridges: dict[int, _Bridge] = field(default_factory=dict)
    members: dict[int, _Member] = field(default_factory=dict)
    talking: set[int] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JanusEngine(NoCaptions):
    """Implements ``podium.media.engine.MediaEngine`` on Janus AudioBridge rooms."""

    engine_name = "the Janus media engine"

    def __init__(self, settings: Settings) -> None:
        self._configs = [JanusInstanceConfig.parse(e) for e in settings.janus_instances]
        if not self._configs:
            raise ValueError("media_engine = 'janus' needs at least one janus_instances entry")
        self._admin_secret = settings.janus_admin_secret
        # Checked before an offer goes to Janus (Janus's own peer-reflexive checks are not).
        networks, hosts = settings.ice_remote_networks, settings.ice_hosts
        self._remote = ice.RemoteAddresses.for_hosts(networks, hosts)
        self._sessions: list[JanusSession] = []
        self._rooms: dict[str, _Room] = {}
        self._heard: dict[str, frozenset[int]] = {}
        self._by_handle: dict[tuple[int, int], tuple[str, _Member]] = {}
        self._aux: set[asyncio.Task[Any]] = set()
        self._levels: asyncio.Task[None] | None = None
        self._on_levels: LevelsCallback | None = None
        self._on_peer_gone: PeerGoneCallback | None = None
        self._running = False
        # Several nodes drive the same Janus instances (set by the app in cluster mode).
        self.shared = settings.event_bus == "redis"
        self.topology_lock: Callable[[str], contextlib.AbstractAsyncContextManager[Any]] = _no_lock
        self.healing = True  # shared: look for lost cascades every HEAL_SECONDS
        # Shared: how many participants the *other* nodes placed on each instance, so "least
        # loaded" counts everyone's (set by the app; see RedisRoomLog.loads).
        self.others_load: Callable[[], Any] | None = None
        self.report_load: Callable[[dict[int, int]], Any] | None = None
        # Shared: the forwarders and cascade participants this node made are recorded, so that
        # when it dies a survivor removes them (see clear_orphans; RedisRoomLog.own/reclaim).
        self.own: Callable[[list[str]], Any] | None = None
        self.disown: Callable[[list[str]], Any] | None = None
        self.reclaim: Callable[[], Any] | None = None
        # (instance, janus room, participant) kicked by clear_orphans: Janus lists them for a
        # moment after, and they must not pass for a live cascade.
        self._kicked: set[tuple[int, int, int]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        for index, config in enumerate(self._configs):
            session = JanusSession(config, self._event_handler(index), self._admin_secret)
            self._sessions.append(session)
            await session.open()
        self._levels = asyncio.create_task(self._report_levels(), name="janus-levels")
        if self.shared:
            self._spawn(self._heal_forever())
        self._running = True

    async def close(self) -> None:
        self._running = False
        for room_id in list(self._rooms):
            # Shared: the room goes on through the other nodes; only our handles go.
            await self._close(room_id, destroy=not self.shared)
        self._heard.clear()
        tasks = [t for t in (self._levels, *self._aux) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for session in self._sessions:
            await session.close()
        self._sessions.clear()

    def set_callbacks(self, on_levels: LevelsCallback, on_peer_gone: PeerGoneCallback) -> None:
        self._on_levels, self._on_peer_gone = on_levels, on_peer_gone

    def stats(self) -> EngineStats:
        tasks = sum(1 for s in self._sessions if s.polling)
        tasks += sum(1 for t in self._aux if not t.done())
        tasks += 1 if self._levels is not None and not self._levels.done() else 0
        peers = sum(len(r.members) for r in self._rooms.values())
        return EngineStats(rooms=len(self._rooms), peers=peers, tasks=tasks)

    async def health(self) -> list[dict[str, Any]]:
        """Per instance: reachable?, round trip, participants Podium placed there."""
        report = []
        loop = asyncio.get_running_loop()
        for index, session in enumerate(self._sessions):
            started = loop.time()
            entry: dict[str, Any] = {
                "instance": index,
                "url": session.config.url,
                "participants": self._load(index),
            }
            try:
                info = await session.info()
                entry.update(
                    ok=session.polling,
                    version=info.get("version_string", ""),
                    rtt_ms=round((loop.time() - started) * 1000, 1),
                )
            except Exception as exc:  # any failure means "unhealthy", reported, not raised
                entry.update(ok=False, error=f"{type(exc).__name__}: {exc}")
            report.append(entry)
        return report

    # -- MediaEngine -------------------------------------------------------------------------

    async def connect(
        self, room_id: str, user_id: int, offer: SessionDescription
    ) -> SessionDescription:
        if not self._running:
            raise MediaEngineError("media engine is not running")
        offer = check_offer(offer, self._remote)
        await self.disconnect(room_id, user_id)  # one peer per user: replace
        room = self._rooms.setdefault(room_id, _Room(room_id))
        index = await self._least_loaded()
        session = self._sessions[index]
        try:
            async with room.lock:
                bridge = await self._bridge(room, index)
                handle = await session.attach(PLUGIN)
                muted = user_id not in self._heard.get(room_id, _NOBODY)  # read after the awaits
                member = _Member(user_id, index, handle, muted=muted)
                room.members[user_id] = member
                self._by_handle[(index, member.handle)] = (room_id, member)
            event = await session.send_async(
                member.handle,
                {
                    "request": "join",
                    "room": bridge.janus_room,
                    "display": str(user_id),
                    "muted": muted,
                    "group": "stage",
                },
                jsep={"type": "offer", "sdp": offer.sdp},
            )
        except JanusError as exc:
            await self.disconnect(room_id, user_id)
            raise MediaEngineError("the media server refused the connection") from exc
        member.participant = int(event["plugindata"]["data"]["id"])
        jsep = event.get("jsep") or {}
        if room.members.get(user_id) is not member or "sdp" not in jsep:
            raise MediaEngineError("the peer was closed while connecting")
        if member.muted != (user_id not in self._heard.get(room_id, _NOBODY)):
            await self._apply_mute(room, member)  # the heard set changed while joining
        await self._share_load()
        return SessionDescription(sdp=str(jsep["sdp"]), type="answer")

    async def disconnect(self, room_id: str, user_id: int) -> None:
        room = self._rooms.get(room_id)
        member = room.members.get(user_id) if room else None
        if room is None or member is None:
            return
        async with room.lock:
            await self._drop(room, member)

    async def set_heard(self, room_id: str, user_ids: frozenset[int]) -> None:
        self._heard[room_id] = frozenset(user_ids)
        room = self._rooms.get(room_id)
        if room is None:
            return
        for member in list(room.members.values()):
            if member.participant and member.muted != (member.user_id not in user_ids):
                await self._apply_mute(room, member)
        room.talking &= set(user_ids)

    async def close_room(self, room_id: str) -> None:
        await self._close(room_id, destroy=True)

    async def start_recording(self, room_id: str, sink: RecordingSink) -> None:
        # AudioBridge can record a room to .mjr/.wav itself, but not hand Podium the packets
        # as they go out, which crash-safe Ogg files, clips and trims are built on.
        raise MediaEngineError("Recording is not supported with the Janus media engine yet.")

    async def stop_recording(self, room_id: str) -> None:
        return None

    async def _close(self, room_id: str, destroy: bool) -> None:
        self._heard.pop(room_id, None)
        room = self._rooms.get(room_id)
        if room is None:
            return
        async with room.lock:
            for member in list(room.members.values()):
                await self._drop(room, member)
            for index in list(room.bridges):  # shared bridges outlive their participants
                await self._remove_bridge(room, index, destroy)
            self._rooms.pop(room_id, None)

    # -- bridges -----------------------------------------------------------------------------

    async def _least_loaded(self) -> int:
        others: dict[int, int] = {}
        if self.others_load is not None:
            with contextlib.suppress(Exception):  # without the others' figures, ours decide
                others = await self.others_load()
        return min(range(len(self._sessions)),
                   key=lambda i: (self._load(i) + others.get(i, 0), i))

    async def _share_load(self) -> None:
        if self.report_load is not None:
            with contextlib.suppress(Exception):
                await self.report_load({i: self._load(i) for i in range(len(self._sessions))})

    def _load(self, index: int) -> int:
        return sum(
            1 for r in self._rooms.values() for m in r.members.values() if m.instance == index
        )

    async def _bridge(self, room: _Room, index: int) -> _Bridge:
        """The room's AudioBridge room on this instance, cascaded with the others."""
        bridge = room.bridges.get(index)
        if bridge is not None:
            return bridge
        session = self._sessions[index]
        janus_room = shared_room_id(room.room_id) if self.shared else secrets.randbelow(2**52) + 1
        async with self.topology_lock(room.room_id):
            control = await session.attach(PLUGIN)
            try:
                await session.request(control, {
                    "request": "create",
                    "room": janus_room,
                    "is_private": True,
                    "allow_rtp_participants": True,
                    "groups": ["stage", "cascade"],
                    "audiolevel_event": True,
                    "audio_active_packets": 10,
                    "audio_level_average": 60,
                    "sampling_rate": 48000,
                })
            except JanusError as exc:
                if not (self.shared and exc.code == ROOM_EXISTS):
                    await session.detach(control)
                    raise
            bridge = room.bridges[index] = _Bridge(janus_room, control)
            if self.shared:
                await self._find_bridges(room)  # those other nodes made
            for other in list(room.bridges):
                if other != index:
                    await self._cascade(room, other, index)
                    await self._cascade(room, index, other)
        return bridge

    async def heal(self, room_id: str) -> None:
        """Shared: restore the cascades between this room's bridges. A cascade participant is a
        handle of the node that made it; when that node dies, Janus drops it with the node's
        session and audio stops crossing between those two instances until this runs."""
        room = self._rooms.get(room_id)
        if room is None or not self.shared:
            return
        async with room.lock, self.topology_lock(room_id):
            await self._find_bridges(room)
            for src in list(room.bridges):
                for dst in list(room.bridges):
                    if src != dst:
                        await self._cascade(room, src, dst)  # kept where one exists

    async def _heal_forever(self) -> None:
        while True:
            await asyncio.sleep(HEAL_SECONDS)  # a periodic check, not synchronisation
            await self._share_load()  # also keeps our figures from expiring
            try:
                await self.clear_orphans()
            except Exception as exc:  # noqa: BLE001 - Redis or an instance may be down
                log.warning("janus: clearing a dead node's forwarders failed: %s", exc)
            for room_id in list(self._rooms):
                if not self.healing:
                    break
                try:
                    await self.heal(room_id)
                except Exception as exc:  # noqa: BLE001 - an instance may be down; next time
                    log.warning("janus: healing room %s failed: %s", room_id, exc)

    async def clear_orphans(self) -> int:
        """Shared: remove what dead nodes made (nodes whose load figures expired): their RTP
        forwarders, which Janus keeps until the room is destroyed, sending a stage to a port
        nobody reads any more (or that a new cascade reuses), and their cascade participants,
        which would otherwise stand in for a live cascade until Janus times the dead node's
        session out. ``heal`` then rebuilds the cascades. Returns how many were removed."""
        if self.reclaim is None:
            return 0
        return await remove_orphans(self._sessions, PLUGIN, await self.reclaim(), self._kicked)

    async def _record(self, items: list[str], owned: bool = True) -> None:
        record = self.own if owned else self.disown
        if self.shared and record is not None and items:
            with contextlib.suppress(Exception):  # without Redis: left for the room's end
                await record(items)

    async def _find_bridges(self, room: _Room) -> None:
        janus_room = shared_room_id(room.room_id)
        for index, session in enumerate(self._sessions):
            if index in room.bridges:
                continue
            control = await session.attach(PLUGIN)
            reply = await session.request(control, {"request": "exists", "room": janus_room})
            if reply.get("exists"):
                room.bridges[index] = _Bridge(janus_room, control)
            else:
                await session.detach(control)

    async def _cascaded(self, room: _Room, src: int, dst: int) -> bool:
        """Shared: whether some node already feeds ``src``'s stage into ``dst``'s room."""
        target = room.bridges[dst]
        reply = await self._sessions[dst].request(
            target.control, {"request": "listparticipants", "room": target.janus_room})
        return any(p.get("display") == f"cascade-{src}"
                   and (dst, target.janus_room, p.get("id")) not in self._kicked
                   for p in reply.get("participants", []))

    async def _cascade(self, room: _Room, src: int, dst: int) -> None:
        """Forward the ``stage`` group of ``src``'s room into ``dst``'s room."""
        target, source = room.bridges[dst], room.bridges[src]
        if self.shared and await self._cascaded(room, src, dst):
            return
        session = self._sessions[dst]
        handle = await session.attach(PLUGIN)
        event = await session.send_async(
            handle,
            {
                "request": "join",
                "room": target.janus_room,
                "display": f"cascade-{src}",
                "group": "cascade",
                "rtp": {"payload_type": OPUS_PT},
            },
        )
        data = event["plugindata"]["data"]
        port = int(data["rtp"]["port"])
        target.cascade_in[src] = (handle, port)
        target.cascade_ids[src] = int(data["id"])
        await self._record([f"p:{dst}:{target.janus_room}:{data['id']}"])
        reply = await self._sessions[src].request(
            source.control,
            {
                "request": "rtp_forward",
                "room": source.janus_room,
                "group": "stage",
                "host": self._configs[dst].media_host,
                "port": port,
                "ptype": OPUS_PT,
                "codec": "opus",
            },
        )
        source.forwards[dst] = int(reply["stream_id"])
        await self._record([f"f:{src}:{source.janus_room}:{reply['stream_id']}"])

    async def _drop(self, room: _Room, member: _Member) -> None:
        if room.members.get(member.user_id) is member:
            del room.members[member.user_id]
        room.talking.discard(member.user_id)
        self._by_handle.pop((member.instance, member.handle), None)
        session = self._sessions[member.instance]
        await session.detach(member.handle)  # hangs up the PeerConnection and leaves
        if self.shared:
            return  # other nodes' participants may use the bridges: they go with the room
        if not any(m.instance == member.instance for m in room.members.values()):
            await self._remove_bridge(room, member.instance)
        if not room.members and self._rooms.get(room.room_id) is room:
            del self._rooms[room.room_id]

    async def _remove_bridge(self, room: _Room, index: int, destroy: bool = True) -> None:
        bridge = room.bridges.pop(index, None)
        if bridge is None:
            return
        for other, other_bridge in room.bridges.items():
            stream = other_bridge.forwards.pop(index, None)
            if stream is not None:
                await self._stop_forward(other, other_bridge, stream)
            cascade = other_bridge.cascade_in.pop(index, None)
            participant = other_bridge.cascade_ids.pop(index, None)
            if participant is not None:
                await self._record([f"p:{other}:{other_bridge.janus_room}:{participant}"], False)
            if cascade is not None:
                await self._sessions[other].detach(cascade[0])
        session = self._sessions[index]
        if destroy:
            with contextlib.suppress(JanusError):  # shared: another node may have destroyed it
                await session.request(bridge.control,
                                      {"request": "destroy", "room": bridge.janus_room})
        for stream in bridge.forwards.values():
            # Kept, the room going on (shared): they would feed cascades detached below.
            await self._stop_forward(index, bridge, stream, request=not destroy)
        await self._record([f"p:{index}:{bridge.janus_room}:{p}"
                            for p in bridge.cascade_ids.values()], False)
        for handle, _ in bridge.cascade_in.values():
            await session.detach(handle)
        await session.detach(bridge.control)

    async def _stop_forward(self, index: int, bridge: _Bridge, stream: int,
                            request: bool = True) -> None:
        await self._record([f"f:{index}:{bridge.janus_room}:{stream}"], False)
        if request:
            with contextlib.suppress(JanusError):
                await self._sessions[index].request(bridge.control, {
                    "request": "stop_rtp_forward", "room": bridge.janus_room,
                    "stream_id": stream})

    async def _apply_mute(self, room: _Room, member: _Member) -> None:
        """Bring Janus to the current heard set. It is read again after each request: it may
        change meanwhile, and a ``set_heard`` that saw no change (``member.muted`` not yet
        updated) left the catching up to this loop."""
        async with member.muting:
            while True:
                muted = member.user_id not in self._heard.get(room.room_id, _NOBODY)
                bridge = room.bridges.get(member.instance)
                if muted == member.muted or bridge is None or not member.participant:
                    return
                try:
                    await self._sessions[member.instance].request(
                        bridge.control,
                        {
                            "request": "mute" if muted else "unmute",
                            "room": bridge.janus_room,
                            "id": member.participant,
                        },
                    )
                except JanusError:
                    return  # the participant may have just left
                member.muted = muted

    # -- events ------------------------------------------------------------------------------

    def _event_handler(self, index: int) -> Any:
        def on_event(handle: int, event: Json) -> None:
            found = self._by_handle.get((index, handle))
            if found is None:
                return
            room_id, member = found
            room = self._rooms.get(room_id)
            if room is None:
                return
            kind = event.get("janus")
            data = event.get("plugindata", {}).get("data", {})
            if kind == "hangup" or (kind == "detached"):
                self._spawn(self._gone(room, member))
            elif data.get("audiobridge") == "talking" and data.get("id") == member.participant:
                room.talking.add(member.user_id)
            elif (
                data.get("audiobridge") == "stopped-talking"
                and data.get("id") == member.participant
            ):
                room.talking.discard(member.user_id)

        return on_event

    async def _gone(self, room: _Room, member: _Member) -> None:
        if room.members.get(member.user_id) is not member:
            return  # an old peer of a user who has reconnected since
        async with room.lock:
            await self._drop(room, member)
        if self._on_peer_gone is not None:
            self._call(self._on_peer_gone, room.room_id, member.user_id)

    async def _report_levels(self) -> None:
        while True:
            await asyncio.sleep(LEVELS_SECONDS)  # a periodic report, not synchronisation
            for room in list(self._rooms.values()):
                heard = self._heard.get(room.room_id, _NOBODY)
                report = {uid: 0.5 for uid in room.talking & heard}
                if report and self._on_levels is not None:
                    self._call(self._on_levels, room.room_id, report)

    def _call(self, callback: Any, *args: Any) -> None:
        tasks.call(self._aux, callback, *args)

    def _spawn(self, awaitable: Any) -> None:
        tasks.spawn(self._aux, awaitable, "janus engine")

