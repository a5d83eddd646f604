"""The client processes of the storm benchmark (storm.py), one role per process.

* ``accounts``: writes the benchmark's members straight into Podium's database (users with
  ``password_hash="!"`` and an API token each, as tests/api/helpers.py ``bulk_members``; the
  sign-in members get one real argon2 hash, made once) and saves their tokens as JSON.
* ``speaker``: the host creates a room, joins it and speaks: a ``ClientPeer`` playing the
  speech clip in a loop. Prints ``{"event": "ready", "room": ID}``.
* ``signins``: on ``go T0 SECONDS`` (T0 on CLOCK_MONOTONIC, shared by all processes), N
  sign-ins (POST /auth/signin with the real password) spread evenly over SECONDS; prints each
  one's latency and status.
* ``joiners``: its share of a join storm (joiner i of N starts at T0 + i × SECONDS / N, never
  waiting for another): POST /rooms/{id}/join, POST /rooms/{id}/rtc, ICE + DTLS, first RTP.
  Offers are made before ``go`` (ICE candidates gathered), one DTLS certificate for all.

Each role prints JSON lines on stdout (``ready``, then ``done`` with its results) and exits on
``quit`` (or end of stdin).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aioice.ice  # noqa: E402
from benchlib.batchrecv import BatchReceiver  # noqa: E402
from benchlib.listener import FastListener, reuse_one_certificate  # noqa: E402
from benchlib.signalling import HttpError, PodiumHttp  # noqa: E402

# as loadgen.py: a busy generator must not drop its own healthy listeners (browser patience)
aioice.ice.CONSENT_FAILURES = 60


def emit(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def read_json(path: str) -> Any:
    with open(path) as fh:
        return json.load(fh)


def write_json(path: str, value: Any) -> None:
    with open(path, "w") as fh:
        json.dump(value, fh)


async def commands() -> AsyncIterator[str]:
    """Lines from stdin (the orchestrator's commands), without blocking the event loop."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield line.decode().strip()


async def wait_go() -> tuple[float, float]:
    """Block until ``go T0 SECONDS``; returns (T0, SECONDS)."""
    async for line in commands():
        if line.startswith("go "):
            _, t0, seconds = line.split()
            return float(t0), float(seconds)
    raise SystemExit(0)


async def wait_quit() -> None:
    async for line in commands():
        if line == "quit":
            break
    # The server is torn down right after; closing peers would only add DTLS alerts.
    os._exit(0)


async def sleep_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - time.monotonic()))


# -- accounts ---------------------------------------------------------------------------------


async def make_accounts(args: argparse.Namespace) -> None:
    """Members for the run, in one transaction; Podium's own tables and helpers."""
    from datetime import UTC, datetime, timedelta

    from podium.services.security import digest, generate_password, hash_password, new_secret
    from podium.storage.db import Database
    from podium.storage.tables import ApiToken, Session, User

    now = datetime.now(UTC)
    password = generate_password()
    real_hash = hash_password(password)  # once: each sign-in still verifies at full cost
    groups = {"host": 1, "steady": args.steady, "joiners": args.joiners}
    users = {
        group: [User(username=f"{args.tag}{group[:2]}{i}", display_name=f"{group} {i}",
                     password_hash="!", is_admin=group == "host", suspended=False,
                     created_at=now) for i in range(count)]
        for group, count in groups.items()
    }  # fmt: skip
    signin = [User(username=f"{args.tag}in{i}", display_name=f"signin {i}",
                   password_hash=real_hash, is_admin=False, suspended=False, created_at=now)
              for i in range(args.signins)]  # fmt: skip
    tokens = {group: [new_secret("pod_") for _ in members] for group, members in users.items()}
    # browser-like: a session cookie each, signed in already (``--sessions``)
    sessions = [new_secret() for _ in users["steady"]] if args.sessions else []
    db = Database(args.database_url)
    try:
        async with db.transaction() as s:
            s.add_all([u for members in users.values() for u in members] + signin)
            await s.flush()
            s.add_all(
                ApiToken(token_hash=digest(t), hint=t[:8], name="storm", user_id=u.id,
                         created_at=now)
                for group, members in users.items()
                for u, t in zip(members, tokens[group], strict=True)
            )  # fmt: skip
            s.add_all(Session(token_hash=digest(t), user_id=u.id, created_at=now,
                              expires_at=now + timedelta(days=1))
                      for u, t in zip(users["steady"] if sessions else [], sessions,
                                      strict=True))  # fmt: skip
    finally:
        await db.close()
    out = {
        "host": tokens["host"][0],
        "steady": tokens["steady"],
        "steady_sessions": sessions,
        "joiners": tokens["joiners"],
        "signin_users": [u.username for u in signin],
        "password": password,
    }
    write_json(args.out, out)
    emit({"event": "done", **{g: len(t) for g, t in tokens.items()}, "signins": len(signin)})


# -- speaker ----------------------------------------------------------------------------------


async def speak(args: argparse.Namespace) -> None:
    from podium.media.engine import SessionDescription
    from podium.media.peer import ClientPeer

    http = PodiumHttp(args.base_url)
    room = await http.post("/rooms", {"title": "Storm", "kind": "open"}, args.token)
    room_id = room["id"]
    await http.post(f"/rooms/{room_id}/join", None, args.token)
    peer = ClientPeer(ice_hosts=["127.0.0.1"], decode_audio=False)
    offer = await peer.create_offer()
    answer = await http.post(f"/rooms/{room_id}/rtc", {"sdp": offer.sdp, "type": "offer"},
                             args.token)  # fmt: skip
    await peer.accept_answer(SessionDescription(answer["sdp"], answer["type"]))
    await peer.wait_connected(20.0)
    peer.play_file(args.wav, loop=True)
    emit({"event": "ready", "room": room_id, "pid": os.getpid()})
    await wait_quit()


# -- sign-ins ---------------------------------------------------------------------------------


async def signins(args: argparse.Namespace) -> None:
    accounts = read_json(args.accounts)
    names: list[str] = accounts["signin_users"][: args.n]
    http = PodiumHttp(args.base_url)
    emit({"event": "ready", "pid": os.getpid(), "n": len(names)})
    t0, seconds = await wait_go()

    async def one(i: int, name: str) -> dict[str, Any]:
        at = t0 + i * seconds / len(names)
        await sleep_until(at)
        start = time.monotonic()
        status: int | str
        try:
            status, _ = await http.request(
                "POST", "/auth/signin", {"username": name, "password": accounts["password"]}
            )
        except OSError as exc:  # refused or reset: recorded as the status
            status = repr(exc)[:200]
        end = time.monotonic()
        return {"start_s": round(start - t0, 3), "late_ms": round((start - at) * 1000, 1),
                "ms": round((end - start) * 1000, 1), "status": status, "end": end}  # fmt: skip

    results = await asyncio.gather(*(one(i, n) for i, n in enumerate(names)))
    emit({"event": "done", "signins": results})
    await wait_quit()


# -- joiners ----------------------------------------------------------------------------------


class Joiner:
    """One member of the join storm and what happened to it."""

    def __init__(self, index: int, token: str) -> None:
        self.index, self.token = index, token
        self.listener = FastListener("127.0.0.1", kernel_stamps=True)
        self.status: int | str = ""  # 200, another HTTP status, or the error
        self.at = 0.0  # when it was due to start
        self.done_at: float | None = None  # first audio, or when it gave up

    async def run(self, http: PodiumHttp, room: str, deadline: float,
                  batch: BatchReceiver) -> None:  # fmt: skip
        await sleep_until(self.at)
        try:
            await self.listener.join_podium_http(http, self.token, room)
            self.status = 200
        except HttpError as exc:
            self.status = exc.status
        except Exception as exc:  # noqa: BLE001 - recorded, the storm goes on
            self.status = repr(exc)[:200]
        if self.status == 200:
            await wait_audio_or_failure(self.listener, deadline - time.monotonic())
        self.done_at = time.monotonic()
        # keep it as a listener (its consent checks answered) but count in batches from now
        for _ in range(50):
            if self.listener.first_at is None or self.listener.move_to(batch):
                break
            await asyncio.sleep(0.1)

    def record(self, t0: float, real_minus_mono: float) -> dict[str, Any]:
        x = self.listener

        def ms(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round((b - a) * 1000, 1)

        kernel = None
        if x.first_kernel_ns is not None:
            kernel = x.first_kernel_ns / 1e9 - real_minus_mono  # onto CLOCK_MONOTONIC
        started = x.started_at or None
        return {
            "i": self.index,
            "status": self.status,
            "start_s": None if started is None else round(started - t0, 3),
            "late_ms": ms(self.at, started),  # the generator's own lag in starting it
            "join_ms": ms(started, x.joined_at),
            "rtc_ms": ms(x.joined_at, x.answered_at),
            "first_audio_ms": ms(started, kernel if kernel is not None else x.first_at),
            "first_audio_seen_ms": ms(started, x.first_at),  # when this process read it
            "audio_at_s": None if x.first_at is None else round((kernel or x.first_at) - t0, 3),
            "state": x.pc.connectionState,
        }


async def wait_audio_or_failure(listener: FastListener, timeout: float) -> None:
    """Until the first RTP datagram, the connection failing, or ``timeout``."""
    failed = asyncio.Event()

    def changed() -> None:
        if listener.pc.connectionState in ("failed", "closed"):
            failed.set()

    listener.pc.on("connectionstatechange", changed)
    waits = [asyncio.create_task(listener.audio.wait()), asyncio.create_task(failed.wait())]
    _, pending = await asyncio.wait(waits, timeout=max(0.0, timeout),
                                    return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    for task in pending:
        task.cancel()


async def prepare(joiners: list[Joiner]) -> None:
    """Offers for all, a few at a time (hundreds of gatherings at once only queue up)."""
    sem = asyncio.Semaphore(16)

    async def one(j: Joiner) -> None:
        async with sem:
            await j.listener.prepare_offer()

    await asyncio.gather(*(one(j) for j in joiners))


async def joiners(args: argparse.Namespace) -> None:
    tokens: list[str] = read_json(args.accounts)["joiners"][: args.n]
    reuse_one_certificate()
    batch = BatchReceiver(0.1)
    batch.start()
    mine = [Joiner(i, tokens[i]) for i in range(args.part, len(tokens), args.parts)]
    started = time.monotonic()
    await prepare(mine)
    emit({"event": "ready", "pid": os.getpid(), "n": len(mine),
          "prepare_s": round(time.monotonic() - started, 2)})  # fmt: skip
    t0, seconds = await wait_go()
    for j in mine:
        j.at = t0 + j.index * seconds / len(tokens)
    http = PodiumHttp(args.base_url)
    deadline = t0 + args.timeout
    await asyncio.gather(*(j.run(http, args.room, deadline, batch) for j in mine))
    real_minus_mono = time.time() - time.monotonic()
    emit({"event": "done", "joiners": [j.record(t0, real_minus_mono) for j in mine],
          "last_done": max((j.done_at or 0.0) for j in mine)})  # fmt: skip
    await wait_quit()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="role", required=True)
    acc = sub.add_parser("accounts")
    acc.add_argument("--database-url", required=True)
    acc.add_argument("--out", required=True)
    acc.add_argument("--tag", required=True, help="username prefix (a fresh one per run)")
    for name in ("steady", "joiners", "signins"):
        acc.add_argument(f"--{name}", type=int, required=True)
    acc.add_argument("--sessions", action="store_true",
                     help="also a session cookie for each steady member (signed in already)")
    spk = sub.add_parser("speaker")
    spk.add_argument("--token", required=True)
    spk.add_argument("--wav", required=True)
    sig = sub.add_parser("signins")
    sig.add_argument("--accounts", required=True)
    sig.add_argument("-n", type=int, required=True)
    join = sub.add_parser("joiners")
    join.add_argument("--accounts", required=True)
    join.add_argument("--room", required=True)
    join.add_argument("-n", type=int, required=True, help="joiners in the whole storm")
    join.add_argument("--part", type=int, default=0, help="this process takes i %% parts == part")
    join.add_argument("--parts", type=int, default=1)
    join.add_argument("--timeout", type=float, default=30.0, help="after T0, then give up")
    for p in (spk, sig, join):
        p.add_argument("--base-url", default="http://127.0.0.1:8000/api/v1")
    return parser.parse_args()


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    args = parse_args()
    role = {"accounts": make_accounts, "speaker": speak, "signins": signins,
            "joiners": joiners}[args.role]  # fmt: skip
    asyncio.run(role(args))


if __name__ == "__main__":
    main()
