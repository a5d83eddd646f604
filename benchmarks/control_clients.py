"""The client processes of the control-plane benchmark (control_plane.py), one role each.

* ``crowd``: its share of the room's members, one WebSocket each (``websockets``, deflate
  offered as browsers do). On ``go T0 SECONDS`` member i of the whole crowd connects at
  T0 + i × SECONDS / total and joins the room (``join`` command); afterwards it only reads,
  answering the server's pings. ``churn RATE`` (the soak) makes RATE members a second of this
  process either leave and come back on a new session, or drop their socket and resume.
* ``director``: the host, the moderators and the "active" listeners. Creates the room (HTTP, as
  the host), brings the moderators on stage and makes them moderators, prints ``ready``. On
  ``script SECONDS RATE`` it runs chains of actions at RATE a second: a listener raises a hand,
  a moderator invites them, they accept, the moderator mutes them, they unmute, the moderator
  moves them back to the audience. The host acts over HTTP (as a bot would), the moderators
  and listeners over their WebSockets.

Every numbered frame's sequence number is checked (they never skip); every room event's
arrival time is kept by its room revision, on CLOCK_MONOTONIC (one clock for all processes),
and the director records each action's send time with the revision of the event it caused, so
control_plane.py can join them. ``report PATH`` writes this process's arrivals and counts to
PATH and prints ``done``; ``quit`` (or end of stdin) exits.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import logging
import os
import random
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib.signalling import PodiumHttp  # noqa: E402
from benchlib.wsmember import (  # noqa: E402
    CommandFailed,
    Member,
    Recorder,
    replay_estimate_mb,
    write_json,
)  # fmt: skip
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def read_json(path: str) -> Any:
    with open(path) as fh:
        return json.load(fh)


def credentials(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(API token, session cookie or "") of each member, as ``--auth`` says."""
    accounts = read_json(args.accounts)
    cookies = accounts["steady_sessions"] if args.auth == "cookie" else []
    return [(t, cookies[i] if cookies else "") for i, t in enumerate(accounts["steady"])]


# -- crowd ------------------------------------------------------------------------------------


async def enter(member: Member, room: str, at: float) -> None:
    """Connect at ``at`` and join ``room``; failures are counted, the crowd goes on."""
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    started = time.monotonic()
    member.rec.late_ms.append(round((started - at) * 1000, 2))
    try:
        await member.connect()
        member.rec.connect_ms.append(round((time.monotonic() - started) * 1000, 2))
        await member.join(room)
    except InvalidStatus as exc:
        member.rec.errors[f"connect HTTP {exc.response.status_code}"] += 1
    except (OSError, TimeoutError, ConnectionClosed, CommandFailed, RuntimeError) as exc:
        member.rec.errors[f"enter {type(exc).__name__}: {str(exc)[:80]}"] += 1


async def churn_one(member: Member, rng: random.Random) -> None:
    """Leave and come back on a new session, or drop the socket and resume the session."""
    rec, room = member.rec, member.room
    if room is None or member.ws is None:
        return
    try:
        if rng.random() < 0.5:
            rec.churn["leave+rejoin"] += 1
            await member.command("leave")
            await member.close()
            await member.connect()
            await member.join(room)
        else:
            rec.churn["drop+resume"] += 1
            await member.close(abort=True)
            await asyncio.sleep(rng.uniform(0.1, 2.0))
            await member.connect(resume=True)
    except (OSError, TimeoutError, ConnectionClosed, CommandFailed, RuntimeError) as exc:
        rec.errors[f"churn {type(exc).__name__}: {str(exc)[:80]}"] += 1


async def churn(members: list[Member], rate: float) -> None:
    rng = random.Random(os.getpid())
    busy: set[Member] = set()
    tasks: set[asyncio.Task[None]] = set()
    next_at = time.monotonic()
    while True:
        next_at += 1 / rate
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        member = rng.choice(members)
        if member in busy:
            continue
        busy.add(member)
        task = asyncio.create_task(churn_one(member, rng))
        tasks.add(task)
        task.add_done_callback(lambda t, m=member: (tasks.discard(t), busy.discard(m)))


async def crowd(args: argparse.Namespace) -> None:
    rec = Recorder()
    compression = None if args.no_compression else "deflate"
    members = [Member(args.ws_url, t, rec, compression=compression, cookie=c)
               for t, c in credentials(args)[args.offset:args.offset + args.n]]  # fmt: skip
    emit({"event": "ready", "pid": os.getpid(), "n": len(members)})
    tasks: list[asyncio.Task[Any]] = []
    async for line in commands():
        word, *rest = line.split()
        if word == "go":
            t0, seconds = float(rest[0]), float(rest[1])
            step = seconds / args.total
            tasks = [asyncio.create_task(enter(m, args.room, t0 + (args.index + i) * step))
                     for i, m in enumerate(members)]  # fmt: skip
            asyncio.create_task(report_when_done(tasks, rec))
        elif word == "churn":
            tasks.append(asyncio.create_task(churn([m for m in members if m.room], float(rest[0]))))
        elif word == "report":
            keep = {a["rev"] for a in read_json(rest[1])} if len(rest) > 1 else None
            emit({"event": "done", **rec.write(rest[0], keep),
                  "replay_estimate_mb": replay_estimate_mb(members)})
        elif word == "quit":
            break
    os._exit(0)


async def report_when_done(tasks: list[asyncio.Task[Any]], rec: Recorder) -> None:
    await asyncio.gather(*tasks)
    emit({"event": "joined", "joined": len(rec.join_ms), "errors": dict(rec.errors)})


async def commands() -> Any:
    """Lines from stdin (the orchestrator's commands), without blocking the event loop."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip():
            yield line.decode().strip()


# -- director ---------------------------------------------------------------------------------


class Actor:
    """Someone who acts: over their WebSocket, or over HTTP (``http`` set, as a bot would)
    while their socket receives the events."""

    def __init__(self, member: Member, http: PodiumHttp | None = None) -> None:
        self.member, self.http = member, http

    @property
    def path(self) -> str:
        return "http" if self.http else "ws"


# step name, who acts, event it causes (about the listener), WS command and fields, HTTP path
STEPS: list[tuple[str, str, str, str, dict[str, Any], str]] = [
    ("raise_hand", "listener", "hand_raised", "raise_hand", {}, ""),
    ("invite_to_speak", "moderator", "speak_invited", "invite_to_speak", {}, "/speakers"),
    ("accept_invite", "listener", "role_changed", "accept_invite", {}, ""),
    ("mute", "moderator", "mute_changed", "mute", {}, "/muted"),
    ("unmute", "listener", "mute_changed", "set_muted", {"muted": False}, ""),
    ("move_to_audience", "moderator", "role_changed", "move_to_audience", {}, "/audience"),
]


class Director:
    def __init__(self, args: argparse.Namespace, rec: Recorder) -> None:
        compression = None if args.no_compression else "deflate"
        steady = credentials(args)

        def member(cred: tuple[str, str]) -> Member:
            return Member(args.ws_url, cred[0], rec, compression=compression, full=True,
                          cookie=cred[1])

        self.rec, self.args = rec, args
        self.http = PodiumHttp(args.base_url)
        self.host = Actor(member((read_json(args.accounts)["host"], "")), self.http)
        self.moderators = [Actor(member(t)) for t in steady[: args.moderators]]
        self.listeners = [Actor(member(t))
                          for t in steady[args.moderators: args.moderators + args.active]]
        self.free = collections.deque(self.listeners)
        self.room = ""
        self.actions: list[dict[str, Any]] = []

    async def setup(self) -> None:
        room = await self.http.post("/rooms", {"title": "Control plane", "kind": "open"},
                                    self.host.member.token)  # fmt: skip
        self.room = room["id"]
        host = self.host.member
        await host.connect()
        await host.join(self.room)
        for actor in [*self.moderators, *self.listeners]:
            await actor.member.connect()
            await actor.member.join(self.room)
        for mod in self.moderators:
            m = mod.member
            await host.command("invite_to_speak", user_id=m.user_id)
            await m.command("accept_invite")
            await host.command("make_moderator", user_id=m.user_id)

    async def act(self, step: tuple[str, str, str, str, dict[str, Any], str], mod: Actor,
                  listener: Actor) -> None:  # fmt: skip
        name, who, event, command, fields, http_path = step
        actor = mod if who == "moderator" else listener
        target = listener.member.user_id
        if who == "moderator":
            fields = {**fields, "user_id": target}
        fut = actor.member.expect(event, target)
        sent = time.monotonic()
        if actor.http and http_path:
            await actor.http.post(f"/rooms/{self.room}{http_path}", fields, actor.member.token)
            path = "http"
        else:
            await actor.member.command(command, **fields)
            path = "ws"
        replied = time.monotonic()
        rev = await asyncio.wait_for(fut, 30)
        self.actions.append({"step": name, "event": event, "path": path, "rev": rev,
                             "sent": sent, "reply_ms": round((replied - sent) * 1000, 2)})

    async def chain(self, mod: Actor, until: float, gap: float, start: float) -> None:
        """One listener at a time through the six steps, one step every ``gap`` seconds."""
        at = start
        while at < until:
            listener = self.free.popleft()
            try:
                for step in STEPS:
                    if at >= until:
                        await self.reset(listener)
                        break
                    await asyncio.sleep(max(0.0, at - time.monotonic()))
                    at += gap
                    await self.act(step, mod, listener)
            except Exception as exc:  # noqa: BLE001 - counted; this listener is put back
                self.rec.errors[f"action {type(exc).__name__}: {str(exc)[:80]}"] += 1
                listener.member.waiters.clear()
                await self.reset(listener)
            self.free.append(listener)

    async def reset(self, listener: Actor) -> None:
        host = self.host.member
        for command in ("move_to_audience", "lower_hand"):
            with contextlib.suppress(CommandFailed, TimeoutError, ConnectionError):
                await host.command(command, user_id=listener.member.user_id)

    async def script(self, seconds: float, rate: float, gap: float) -> None:
        """``rate`` actions a second: rate × gap chains, each acting every ``gap`` seconds."""
        chains = max(1, round(rate * gap))
        actors = [self.host, *self.moderators]
        start = time.monotonic() + 0.2
        until = start + seconds
        await asyncio.gather(*(self.chain(actors[i % len(actors)], until, gap,
                                          start + i * gap / chains) for i in range(chains)))


async def director(args: argparse.Namespace) -> None:
    rec = Recorder()
    d = Director(args, rec)
    await d.setup()
    emit({"event": "ready", "pid": os.getpid(), "room": d.room,
          "members": 1 + len(d.moderators) + len(d.listeners)})  # fmt: skip
    running: asyncio.Task[None] | None = None
    async for line in commands():
        word, *rest = line.split()
        if word == "script":
            seconds, rate = float(rest[0]), float(rest[1])
            running = asyncio.create_task(d.script(seconds, rate, args.gap))
            running.add_done_callback(lambda _: emit({"event": "script_done",
                                                      "actions": len(d.actions)}))
        elif word == "report":
            summary = rec.write(rest[0])
            write_json(rest[0] + ".actions", d.actions)
            emit({"event": "done", **summary})
        elif word == "quit":
            break
    os._exit(0)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="role", required=True)
    crowd_p = sub.add_parser("crowd")
    crowd_p.add_argument("--room", required=True)
    crowd_p.add_argument("--offset", type=int, required=True, help="first token of this share")
    crowd_p.add_argument("--index", type=int, required=True, help="its first one's turn to join")
    crowd_p.add_argument("-n", type=int, required=True, help="members in this process")
    crowd_p.add_argument("--total", type=int, required=True, help="members in the whole crowd")
    dir_p = sub.add_parser("director")
    dir_p.add_argument("--moderators", type=int, default=3)
    dir_p.add_argument("--active", type=int, default=50, help="listeners who act")
    dir_p.add_argument("--gap", type=float, default=1.0, help="seconds between a chain's steps")
    for p in (crowd_p, dir_p):
        p.add_argument("--accounts", required=True)
        p.add_argument("--base-url", default="http://127.0.0.1:8000/api/v1")
        p.add_argument("--ws-url", default="ws://127.0.0.1:8000/api/v1/ws")
        p.add_argument("--auth", choices=("cookie", "token"), default="cookie")
        p.add_argument("--no-compression", action="store_true",
                       help="do not offer permessage-deflate (browsers do)")
    return parser.parse_args()


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    args = parse_args()
    asyncio.run(crowd(args) if args.role == "crowd" else director(args))


if __name__ == "__main__":
    main()
