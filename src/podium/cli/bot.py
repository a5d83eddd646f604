"""``podium bot speak`` and ``podium bot listen``: a speaker and a listener for scripts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podium.client import PodiumClient, PodiumError, Realtime


def _ice_hosts() -> list[str] | None:
    # The bot honours PODIUM_ICE_HOSTS as the server does (tests set 127.0.0.1).
    value = os.environ.get("PODIUM_ICE_HOSTS", "")
    return [h.strip() for h in value.split(",") if h.strip()] or None


def _stun_urls() -> list[str]:
    value = os.environ.get("PODIUM_STUN_URLS", "")
    return [u.strip() for u in value.split(",") if u.strip()]


async def connect_audio(rt: Realtime) -> Any:
    """Open this client's one peer connection to the room's audio."""
    from podium.media.engine import SessionDescription
    from podium.media.peer import ClientPeer

    peer = ClientPeer(ice_hosts=_ice_hosts(), stun_urls=_stun_urls())
    offer = await peer.create_offer()
    answer = await rt.send("rtc_offer", sdp=offer.sdp)
    await peer.accept_answer(SessionDescription(answer["sdp"], answer["type"]))
    await peer.wait_connected(timeout=20)
    return peer


async def take_stage(rt: Realtime) -> None:
    """Moderators are on stage already; anyone else raises a hand and waits for an invitation."""
    role = rt.my_role()
    if role in ("moderator", "speaker"):
        return
    await rt.send("raise_hand")
    print("hand raised; waiting to be invited to speak", flush=True)
    await rt.wait_for(lambda: bool((rt.room or {}).get("me", {}).get("invited")), timeout=86400)
    await rt.send("accept_invite")
    await rt.wait_for(lambda: rt.my_role() in ("moderator", "speaker"))


async def _run_for(seconds: float | None, stop: asyncio.Event, rt: Realtime,
                   audio: Audio) -> None:
    """Run until ``seconds`` pass or ``stop``; the socket and the audio reconnect meanwhile
    (e.g. when the node they were on dies), and a failure to reconnect ends the run."""
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(rt.stay_connected()),
             asyncio.create_task(audio.keep(rt))]
    try:
        done, _ = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a reconnection that gave up raises here
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


class Audio:
    """The bot's one peer connection, made again when it fails or its node went away."""

    CHECK_SECONDS = 1.0

    def __init__(self, peer: Any, on_new: Callable[[Any], None] = lambda peer: None) -> None:
        self.peer = peer
        self.on_new = on_new
        self.earlier: list[Any] = []  # what earlier connections recorded (int16 arrays)

    def save_recording(self, path: str) -> None:
        """Everything heard, over every connection, as one WAV (48 kHz mono)."""
        import wave

        import numpy as np

        with wave.open(path, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(48000)
            out.writeframes(np.concatenate([*self.earlier, self.peer.recorded()]).tobytes())

    async def keep(self, rt: Realtime) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # check the peer's state now and then
                await asyncio.wait_for(rt.moved.wait(), self.CHECK_SECONDS)
            failed = self.peer.connection_state in ("failed", "closed")
            if not (rt.moved.is_set() or failed) or rt.closed.is_set():
                continue
            rt.moved.clear()
            try:
                peer = await connect_audio(rt)
            except (PodiumError, TimeoutError, OSError) as exc:
                print(f"audio: reconnecting failed ({exc}); retrying", file=sys.stderr, flush=True)
                continue
            old, self.peer = self.peer, peer
            self.earlier.append(old.recorded())
            await old.close()
            self.on_new(peer)
            print("audio reconnected", flush=True)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def speak(args: argparse.Namespace) -> None:
    stop = _stop_event()
    async with PodiumClient(args.server, args.token) as client:
        room_id = args.room or (await client.create_room(args.create))["id"]
        print(room_id, flush=True)
        rt = await client.connect()
        audio = None
        try:
            await rt.join(room_id)
            audio = Audio(await connect_audio(rt),
                          lambda peer: peer.play_file(args.file, loop=True))
            await take_stage(rt)
            audio.on_new(audio.peer)
            print(f"speaking in room {room_id}", flush=True)
            await _run_for(args.seconds, stop, rt, audio)
        finally:
            await _leave(rt, audio.peer if audio else None)


async def listen(args: argparse.Namespace) -> None:
    if args.replay:
        await fetch_replay(args)
        return
    if not args.room or args.seconds is None:
        print("error: --room and --seconds (or --replay)", file=sys.stderr)
        sys.exit(2)
    stop = _stop_event()
    async with PodiumClient(args.server, args.token) as client:
        rt = await client.connect()
        audio = None
        try:
            await rt.join(args.room)
            print(args.room, flush=True)
            audio = Audio(await connect_audio(rt))
            print(f"listening in room {args.room}", flush=True)
            await _run_for(args.seconds, stop, rt, audio)
            audio.save_recording(args.out)
            print(f"saved {args.out}", flush=True)
        finally:
            await _leave(rt, audio.peer if audio else None)


async def fetch_replay(args: argparse.Namespace) -> None:
    """``--replay ID --out file.ogg``: save a replay's audio (Ogg Opus, from its trimmed start)."""
    async with PodiumClient(args.server, args.token) as client:
        data = await client.replay_audio(args.replay)
    await asyncio.to_thread(Path(args.out).write_bytes, data)
    print(f"saved {args.out} ({len(data)} bytes)", flush=True)


async def _leave(rt: Realtime, peer: Any) -> None:
    with contextlib.suppress(PodiumError, TimeoutError, OSError):
        if rt.room and rt.room.get("status") == "live" and not rt.closed.is_set():
            await rt.send("leave", timeout=5)
    if peer is not None:
        await peer.close()
    await rt.close()


def _main(coro: Any) -> None:
    try:
        asyncio.run(coro)
    except PodiumError as exc:
        print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
        sys.exit(2)


def _token_argument(parser: argparse.ArgumentParser) -> None:
    # A command line is visible to every local user (ps): prefer the environment.
    parser.add_argument("--token", default=os.environ.get("PODIUM_TOKEN"),
                        required="PODIUM_TOKEN" not in os.environ,
                        help="API token (or set PODIUM_TOKEN, which other users cannot see)")


def add_bot_commands(sub: Any) -> None:
    bot = sub.add_parser("bot", help="speaker and listener bots").add_subparsers(
        dest="bot", required=True)
    s = bot.add_parser("speak", help="join or create a room and stream a WAV file on stage")
    s.add_argument("--server", required=True)
    _token_argument(s)
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--room")
    where.add_argument("--create", metavar="TITLE")
    s.add_argument("--file", required=True)
    s.add_argument("--seconds", type=float)
    s.set_defaults(func=lambda a: _main(speak(a)))

    listen_cmd = bot.add_parser("listen", help="join a room as a listener and record it")
    listen_cmd.add_argument("--server", required=True)
    _token_argument(listen_cmd)
    listen_cmd.add_argument("--room")
    listen_cmd.add_argument("--seconds", type=float)
    listen_cmd.add_argument("--replay", metavar="ID", help="save this replay's audio instead")
    listen_cmd.add_argument("--out", required=True)
    listen_cmd.set_defaults(func=lambda a: _main(listen(a)))
