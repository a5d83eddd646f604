"""Recording CPU per room: the embedded engine with recording off and on, in the same run.

N rooms, each with ``--speakers`` real aiortc speaker peers playing a tone (one speaker: the
passthrough path; two: the encoded mix), in this process with the engine (media_workers=0).
Windows alternate off/on/off/on...; each window's process CPU (all threads: engine, peers,
recorder threads) is read from ``os.times()``, and the recorder threads' own CPU from
/proc/self/task. The difference on - off, divided by the rooms, is what recording costs a room.

    unshare -n sh -c 'ip link set lo up && .venv/bin/python benchmarks/recording.py --rooms 4'
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
from pathlib import Path

from podium.config import Settings
from podium.media.analysis import tone_wav
from podium.media.embedded import EmbeddedEngine
from podium.media.peer import ClientPeer
from podium.media.recorder import OggRecorder

TICKS = os.sysconf("SC_CLK_TCK")


def recorder_cpu() -> float:
    """CPU seconds of the recorder threads (named podium-rec-*)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    total = 0.0
    for tid, name in names.items():
        if not name.startswith("podium-rec-"):
            continue
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def cpu() -> float:
    t = os.times()
    return t.user + t.system


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="podium-rec-bench-"))
    settings = Settings(ice_hosts=["127.0.0.1"], stun_urls=[], turn_urls=[], secret_key="b",
                        data_dir=folder, media_workers=0)
    engine = EmbeddedEngine(settings)
    await engine.start()
    tone = str(folder / "tone.wav")
    tone_wav(tone, 440, 2.0)
    peers: list[ClientPeer] = []
    rooms = [f"room-{i}" for i in range(args.rooms)]
    uid = 0
    for room in rooms:
        heard = []
        for _ in range(args.speakers):
            uid += 1
            peer = ClientPeer(ice_hosts=["127.0.0.1"], decode_audio=False)
            answer = await engine.connect(room, uid, await peer.create_offer())
            await peer.accept_answer(answer)
            await peer.wait_connected(10.0)
            peer.play_file(tone)
            peers.append(peer)
            heard.append(uid)
        await engine.set_heard(room, frozenset(heard))
    recorders = [OggRecorder(folder / f"{room}.ogg", i, 2**40, lambda reason: None)
                 for i, room in enumerate(rooms)]
    await asyncio.sleep(args.warmup)  # let the peers settle before measuring
    off: list[float] = []
    on: list[float] = []
    writer: list[float] = []
    for _ in range(args.rounds):
        for recording in (False, True):
            for room, rec in zip(rooms, recorders, strict=True):
                if recording:
                    rec.resume()
                    await engine.start_recording(room, rec.put)
                else:
                    rec.pause()
                    await engine.stop_recording(room)
            start, start_rec = cpu(), recorder_cpu()
            await asyncio.sleep(args.seconds)  # the measuring window
            used = (cpu() - start) / args.seconds
            (on if recording else off).append(used)
            if recording:
                writer.append((recorder_cpu() - start_rec) / args.seconds)
    for rec in recorders:
        await asyncio.to_thread(rec.close)
    dropped = sum(r.dropped for r in recorders)
    size = sum((folder / f"{room}.ogg").stat().st_size for room in rooms)
    for peer in peers:
        await peer.close()
    await engine.close()
    off_m, on_m = statistics.median(off), statistics.median(on)
    print(f"rooms={args.rooms} speakers/room={args.speakers} rounds={args.rounds} "
          f"window={args.seconds}s")
    print(f"process CPU, recording off: {off_m * 100:.2f} % of a core (median of {len(off)})")
    print(f"process CPU, recording on:  {on_m * 100:.2f} % of a core (median of {len(on)})")
    print(f"on/off ratio: {on_m / off_m:.3f}; per recorded room: "
          f"{(on_m - off_m) / args.rooms * 100:.3f} % of a core")
    print(f"recorder threads alone: {statistics.median(writer) / args.rooms * 100:.3f} % of a "
          f"core per room; dropped packets: {dropped}; written: {size} bytes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=4)
    parser.add_argument("--speakers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0)
    asyncio.run(main(parser.parse_args()))
