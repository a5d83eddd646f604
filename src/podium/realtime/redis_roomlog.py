"""Several nodes share every live room through Redis: one log per room, a copy on every node.

Where a room's authoritative state lives: in its log, a Redis stream of entries (the command,
the time it was applied at, the messages it published) after a checkpoint of the state. Every
node keeps a copy of every live room and applies each entry in stream order, then publishes its
messages to its own clients, so all nodes hand out the same events in the same order with the
same revision numbers. ``apply`` is pure and is given the time, so every copy ends in the same
state.

Writing: a node takes the room's lock in Redis (``SET NX PX``), brings its copy up to date from
the stream, applies the command, and appends the entry with a script that checks it still
holds the lock (a node that stalled past its lease cannot write). Nothing moves when a node
dies: the others already hold the room; its lock lapses within ``LOCK_MS`` and the leader lease
(who runs the room ticks) within ``LEADER_MS``. Its clients reconnect to another node and
resume from the room revision they had (``LiveRoom.events_after``).

Presence: each node writes when it last saw each member connected into a sorted set per room
(``ZADD GT``, so the latest sighting from any node wins); the leader removes members nobody has
seen for the resume window.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

from podium.bus import InProcessBus
from podium.clock import Clock
from podium.domain.codec import decode_command, encode_command, encode_state
from podium.domain.commands import RoomError, RoomEvent
from podium.domain.room import apply
from podium.services.errors import ServiceError
from podium.services.live import Entry, LiveRoom
from podium.services.roomlog import Replicas, publish_entry

log = logging.getLogger(__name__)

LOCK_MS = 3000  # a room's write lock lapses this long after its holder died
LOCK_WAIT = 5.0  # how long a command waits for the lock before giving up
LEADER_MS = 3000  # the leader lease: ticks move to another node this soon after a death
HOUSEKEEPING = 1.0  # presence and lease refresh period
CHECKPOINT_EVERY = 200  # entries between checkpoints of a room's state
MAX_ENTRIES = 10_000  # entries kept per room log (approximate trim)
ENDED_TTL = 3600  # an ended room's log stays this long for late readers
PUBLISH_WAIT = 2.0  # how long a commit waits for this node to publish its own entry
LOAD_TTL_MS = 15_000  # a node's load figures last this long unless reported again

# What dead nodes left behind: the owned items of every node but ARGV[3] whose load figures
# expired, taken (deleted) at once, so one survivor cleans each up. KEYS = owners set;
# ARGV = load key prefix, owned key prefix, this node.
RECLAIM = """
local out = {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if node ~= ARGV[3] and redis.call('EXISTS', ARGV[1] .. node) == 0 then
    for _, item in ipairs(redis.call('SMEMBERS', ARGV[2] .. node)) do out[#out + 1] = item end
    redis.call('DEL', ARGV[2] .. node)
    redis.call('SREM', KEYS[1], node)
  end
end
return out
"""
# One round trip each way per change. Take the lock and read what we have not applied yet:
# KEYS = lock, log; ARGV = token, lease ms, last applied id. Nil if someone else holds it.
ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('XRANGE', KEYS[2], '(' .. ARGV[3], '+')
"""
# Append (only while holding the lock: a node that stalled past its lease cannot write), write
# the checkpoint if one is due, release: KEYS = lock, log, checkpoint; ARGV = token, maxlen,
# checkpoint JSON without its id ('' for none), field/values...
COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 4))
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[3], '{"id":"' .. id .. '",' .. string.sub(ARGV[3], 2))
end
redis.call('DEL', KEYS[1])
return id
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
LEAD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""


class Unavailable(ServiceError):
    status = 503


def _id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _str(entry_id: tuple[int, int]) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


class RedisRoomLog:
    shared = True

    def __init__(self, url: str, bus: InProcessBus, clock: Clock, prefix: str = "podium:",
                 node: str | None = None) -> None:
        import redis.asyncio as redis_asyncio

        self.url, self.prefix, self.bus, self.clock = url, prefix, bus, clock
        self.node = node or secrets.token_hex(4)
        # Any: redis-py's reply types are unions of every possible reply; we know the shapes.
        self._redis: Any = redis_asyncio.Redis.from_url(url)
        self._reader_redis: Any = redis_asyncio.Redis.from_url(url)
        self._replicas: Replicas | None = None
        self._tokens: dict[str, str] = {}  # room id -> our lock token while we hold it
        self._committing: set[str] = set()  # rooms whose entry we are appending right now
        self._stale: set[str] = set()  # rooms whose copy must be reloaded from the log
        # commit() returns once this node has published its entry (waiters by room id), so a
        # client gets a command's events before its reply, as from a single node.
        self._waiters: dict[str, list[tuple[tuple[int, int], asyncio.Future[None]]]] = {}
        self._delivered: dict[str, tuple[int, int]] = {}  # room id -> last entry published
        self._new_rooms = (0, 0)
        self._leader = False
        self._tasks: list[asyncio.Task[None]] = []
        self.entries_written = 0
        self.entries_read = 0

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    @property
    def replicas(self) -> Replicas:
        assert self._replicas is not None, "start() first"
        return self._replicas

    # Starting and loading rooms ---------------------------------------------------

    async def start(self, replicas: Replicas) -> set[str]:
        self._replicas = replicas
        last = await self._redis.xrevrange(self._key("rooms", "new"), count=1)
        self._new_rooms = _id(last[0][0]) if last else (0, 0)
        for raw in await self._redis.hkeys(self._key("rooms")):
            await self._load(raw.decode())
        await self._housekeeping_once()
        self._tasks = [asyncio.create_task(self._read_forever()),
                       asyncio.create_task(self._housekeep_forever())]
        return set(replicas.rooms)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._leader:
            with contextlib.suppress(Exception):
                await self._redis.eval(RELEASE, 1, self._key("leader"), self.node)
        await self._redis.aclose()
        await self._reader_redis.aclose()

    async def _load(self, room_id: str) -> LiveRoom | None:
        """This node's copy of a room: its checkpoint plus the entries after it."""
        raw = await self._redis.get(self._key("room", room_id, "ckpt"))
        if raw is None:
            return None
        ckpt = json.loads(raw)
        live = self.replicas.replica(ckpt["info"], ckpt["state"], int(ckpt["rev"]))
        live.applied = _id(ckpt["id"])
        self._delivered[room_id] = live.applied
        await self._catch_up(live)
        if live.state.live:
            self.replicas.rooms[room_id] = live
            await self.replicas.after_change(live)
        return live

    async def _catch_up(self, live: LiveRoom) -> None:
        entries = await self._redis.xrange(self._key("room", live.room_id, "log"),
                                           min=f"({_str(live.applied)}")
        for entry_id, fields in entries:
            self._apply(live, _id(entry_id), fields)

    def _apply(self, live: LiveRoom, entry_id: tuple[int, int], fields: dict[bytes, bytes]) -> bool:
        """Apply an entry to this node's copy if it is new here; True if the state changed."""
        if entry_id <= live.applied:
            return False
        live.applied = entry_id
        if live.room_id in self._committing:
            # Our own entry, read back before commit() returned: already in our copy.
            return False
        raw = fields.get(b"c")
        events: list[RoomEvent] = []
        if raw:
            try:
                live.state, events = apply(live.state, decode_command(json.loads(raw)),
                                           float(fields[b"n"]))
            except RoomError:  # cannot happen for an entry a node applied; keep the copy
                log.error("room %s: entry %s refused on replay", live.room_id, _str(entry_id))
        out = json.loads(fields[b"o"])
        for topic, message in out:
            if topic.startswith("room:"):
                # The revisions (and who is speaking) move with the state, not when the reader
                # gets to publishing: a command made here next must number its events after these.
                live.rev = max(live.rev, int(message["rev"]))
                if message["event"].get("type") == "speaking":
                    live.speaking = frozenset(message["event"]["user_ids"])
        self.replicas.replicated(live, events, out)
        return bool(raw)

    # Writing ------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def locked(self, live: LiveRoom) -> AsyncIterator[None]:
        lock = self._key("room", live.room_id, "lock")
        token = secrets.token_hex(8)
        deadline = asyncio.get_running_loop().time() + LOCK_WAIT
        pause = 0.001
        while (missed := await self._call(
                ACQUIRE, 2, lock, self._key("room", live.room_id, "log"), token, LOCK_MS,
                _str(live.applied))) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise Unavailable("room_busy", "The room is busy; try again.")
            await asyncio.sleep(pause)  # another node is writing: back off briefly
            pause = min(pause * 2, 0.02)
        self._tokens[live.room_id] = token
        try:
            if live.room_id in self._stale:  # a change of ours never reached the log
                self._stale.discard(live.room_id)
                await self._reload(live)
            for entry_id, flat in missed:  # a script's XRANGE: [id, [field, value, ...]]
                if self._apply(live, _id(entry_id), dict(zip(flat[::2], flat[1::2], strict=True))):
                    await self.replicas.after_change(live)
            yield
        finally:
            if self._tokens.pop(live.room_id, None) is not None:  # commit() did not release
                with contextlib.suppress(Exception):
                    await self._redis.eval(RELEASE, 1, lock, token)

    async def report_load(self, kind: str, counts: dict[int, int]) -> None:
        """This node's load figures (e.g. participants per Janus instance); they expire unless
        reported again within LOAD_TTL_MS, so a dead node's count stops after a while."""
        await self._redis.set(self._key("load", kind, self.node), json.dumps(counts),
                              px=LOAD_TTL_MS)
        await self._redis.sadd(self._key("load", kind), self.node)

    async def others_load(self, kind: str) -> dict[int, int]:
        """The sum of the other live nodes' last load figures."""
        nodes = [n.decode() for n in await self._redis.smembers(self._key("load", kind))]
        nodes = [n for n in nodes if n != self.node]
        total: dict[int, int] = {}
        if not nodes:
            return total
        values = await self._redis.mget([self._key("load", kind, n) for n in nodes])
        for node, raw in zip(nodes, values, strict=True):
            if raw is None:
                await self._redis.srem(self._key("load", kind), node)  # expired: gone
                continue
            for index, count in json.loads(raw).items():
                total[int(index)] = total.get(int(index), 0) + int(count)
        return total

    async def own(self, kind: str, items: list[str]) -> None:
        """Record things this node made outside itself (e.g. Janus RTP forwarders), which would
        outlive it: if it dies, a survivor takes them with ``reclaim`` and undoes them. A node
        is dead once its load figures expired (``report_load``); a first record counts as a
        report, so a new node is not taken for dead before its first one."""
        await self._redis.set(self._key("load", kind, self.node), "{}", nx=True, px=LOAD_TTL_MS)
        await self._redis.sadd(self._key("owned", kind, self.node), *items)
        await self._redis.sadd(self._key("owned", kind), self.node)

    async def disown(self, kind: str, items: list[str]) -> None:
        await self._redis.srem(self._key("owned", kind, self.node), *items)

    async def reclaim(self, kind: str) -> list[str]:
        """What dead nodes owned (see ``own``), each item handed to one caller only."""
        items = await self._redis.eval(RECLAIM, 1, self._key("owned", kind),
                                       self._key("load", kind, ""), self._key("owned", kind, ""),
                                       self.node)
        return [i.decode() if isinstance(i, bytes) else str(i) for i in items]

    @contextlib.asynccontextmanager
    async def mutex(self, name: str) -> AsyncIterator[None]:
        """A cluster-wide lock for other work on a room (e.g. the Janus engine's bridges)."""
        key, token = self._key("mutex", name), secrets.token_hex(8)
        deadline = asyncio.get_running_loop().time() + LOCK_WAIT
        while not await self._redis.set(key, token, nx=True, px=LOCK_MS):
            if asyncio.get_running_loop().time() > deadline:
                raise Unavailable("busy", "The media server is busy; try again.")
            await asyncio.sleep(0.01)  # another node holds it: back off
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await self._redis.eval(RELEASE, 1, key, token)

    async def commit(self, live: LiveRoom, entry: Entry) -> None:
        token = self._tokens.pop(live.room_id, None)
        assert token is not None, "commit() outside locked()"
        command = json.dumps(encode_command(entry.command)) if entry.command else ""
        out = json.dumps(entry.out, separators=(",", ":"))
        live.since_checkpoint += 1
        checkpoint = ""
        if live.since_checkpoint >= CHECKPOINT_EVERY and live.state.live:
            live.since_checkpoint = 0
            checkpoint = json.dumps(self._checkpoint_body(live))
        self._committing.add(live.room_id)
        try:
            entry_id = await self._call(
                COMMIT, 3, self._key("room", live.room_id, "lock"),
                self._key("room", live.room_id, "log"), self._key("room", live.room_id, "ckpt"),
                token, MAX_ENTRIES, checkpoint,
                "c", command, "n", repr(entry.now), "o", out, "node", self.node)
        except Unavailable:
            self._stale.add(live.room_id)  # our copy has a change the log lacks: reload it
            raise
        finally:
            self._committing.discard(live.room_id)
        if entry_id is None:
            # We stalled past the lease and someone else may have written: start again from
            # the log rather than keep a copy that has diverged from it.
            await self._reload(live)
            raise Unavailable("room_busy", "The room changed meanwhile; try again.")
        live.applied = max(live.applied, _id(entry_id))
        self.entries_written += 1
        if not live.state.live:
            await self._ended(live)
        await self._published(live.room_id, _id(entry_id))

    async def _call(self, script: str, *args: Any) -> Any:
        """Run a script; Redis out of reach is a 503 for the caller, not an internal error."""
        from redis.exceptions import RedisError

        try:
            return await self._redis.eval(script, *args)
        except (RedisError, OSError) as exc:
            log.warning("redis unreachable: %s", exc)
            raise Unavailable("unavailable", "The server cannot reach its room store; try "
                              "again shortly.") from None

    async def _published(self, room_id: str, entry_id: tuple[int, int]) -> None:
        if self._delivered.get(room_id, entry_id) >= entry_id:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(room_id, []).append((entry_id, future))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, PUBLISH_WAIT)

    def _wake(self, room_id: str, upto: tuple[int, int]) -> None:
        waiting = self._waiters.get(room_id)
        if not waiting:
            return
        for entry_id, future in waiting:
            if entry_id <= upto and not future.done():
                future.set_result(None)
        self._waiters[room_id] = [(i, f) for i, f in waiting if not f.done()]

    async def _reload(self, live: LiveRoom) -> None:
        delivered = self._delivered.get(live.room_id)
        fresh = await self._load(live.room_id)
        if delivered is not None:
            self._delivered[live.room_id] = delivered  # what our clients already have
        if fresh is not None:
            live.state, live.rev, live.applied = fresh.state, fresh.rev, fresh.applied
            self.replicas.rooms[live.room_id] = live

    def _checkpoint_body(self, live: LiveRoom) -> dict[str, Any]:
        info = live.info
        return {"rev": live.rev, "state": encode_state(live.state),
                "info": {"room_id": info.room_id, "title": info.title,
                         "description": info.description, "kind": info.kind,
                         "host_id": info.host_id, "created_at": info.created_at}}

    async def _checkpoint(self, live: LiveRoom) -> None:
        live.since_checkpoint = 0
        await self._redis.set(self._key("room", live.room_id, "ckpt"), json.dumps(
            {"id": _str(live.applied), **self._checkpoint_body(live)}))

    async def created(self, live: LiveRoom) -> None:
        await self._checkpoint(live)
        self._delivered[live.room_id] = live.applied
        await self._redis.hset(self._key("rooms"), live.room_id, self.node)
        await self._redis.xadd(self._key("rooms", "new"), {"room": live.room_id},
                               maxlen=1000, approximate=True)

    async def _ended(self, live: LiveRoom) -> None:
        await self._redis.hdel(self._key("rooms"), live.room_id)
        await self._redis.delete(self._key("room", live.room_id, "presence"))
        for part in ("log", "ckpt"):
            await self._redis.expire(self._key("room", live.room_id, part), ENDED_TTL)

    # Reading: apply and publish every node's entries, in stream order --------------

    async def _read_forever(self) -> None:
        while True:
            try:
                await self._read_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis may come back; the copies wait for it
                log.exception("room log reader failed; retrying")
                await asyncio.sleep(0.5)

    async def _read_once(self) -> None:
        streams = {self._key("rooms", "new"): _str(self._new_rooms)}
        for room_id, last in self._delivered.items():
            streams[self._key("room", room_id, "log")] = _str(last)
        batches = await self._reader_redis.xread(streams, count=500, block=250)
        for stream, entries in batches or []:
            name = stream.decode()
            if name == self._key("rooms", "new"):
                await self._new(entries)
            else:
                await self._deliver(name[len(self._key("room")) + 1:-len(":log")], entries)

    async def _new(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        for entry_id, fields in entries:
            self._new_rooms = _id(entry_id)
            room_id = fields[b"room"].decode()
            if room_id not in self.replicas.rooms:
                await self._load(room_id)

    async def _deliver(self, room_id: str,
                       entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        live = self.replicas.rooms.get(room_id)
        for raw_id, fields in entries:
            entry_id = _id(raw_id)
            if live is None or entry_id <= self._delivered.get(room_id, (0, 0)):
                continue
            self._delivered[room_id] = entry_id
            self.entries_read += 1
            if self._apply(live, entry_id, fields):
                await self.replicas.after_change(live)
            await publish_entry(live, [(t, m) for t, m in json.loads(fields[b"o"])],
                                self.bus.publish)
            self._wake(room_id, entry_id)
        if live is None or not live.state.live:
            self._delivered.pop(room_id, None)  # ended: nothing more will come
            self._wake(room_id, (2**63, 0))

    # Presence and the leader lease -------------------------------------------------

    def leads(self) -> bool:
        return self._leader

    async def presence(self, live: LiveRoom) -> dict[int, float]:
        rows = await self._redis.zrange(self._key("room", live.room_id, "presence"), 0, -1,
                                        withscores=True)
        return {int(member): float(score) for member, score in rows}

    async def _housekeep_forever(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING)
            try:
                await self._housekeeping_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - retried next period
                log.exception("room housekeeping failed")

    async def _housekeeping_once(self) -> None:
        self._leader = bool(await self._redis.eval(LEAD, 1, self._key("leader"), self.node,
                                                   LEADER_MS))
        now = self.clock.now()
        async with self._redis.pipeline(transaction=False) as pipe:
            for live in list(self.replicas.rooms.values()):
                seen: dict[str | bytes, float] = {}
                for user_id, holders in live.holders.items():
                    at = now if holders else live.absent_since.get(user_id)
                    if at is not None:
                        seen[str(user_id)] = at
                if seen:
                    pipe.zadd(self._key("room", live.room_id, "presence"), seen, gt=True)
            await pipe.execute()

    def stats(self) -> dict[str, Any]:
        return {"node": self.node, "leader": self._leader, "rooms": len(self._delivered),
                "entries_written": self.entries_written, "entries_read": self.entries_read}
