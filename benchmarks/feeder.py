"""Audio sources for the benchmarks.

* ``podium``: S speaker peers (``podium.media.peer.ClientPeer``) that join the bench server
  as uids 1..S and play the speech clip in a loop (each speaker starts at a different point).
* ``rtp``: one Opus RTP stream (the same clip, encoded once with Podium's encoder settings)
  to a Janus Streaming mountpoint's UDP port, paced on an absolute 20 ms schedule.

Prints ``{"event": "ready"}`` once audio is flowing, then runs until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from benchlib.audio import load48, opus_payloads  # noqa: E402
from benchlib.signalling import podium_request  # noqa: E402

from podium.media.analysis import write_wav  # noqa: E402
from podium.media.engine import SessionDescription  # noqa: E402
from podium.media.peer import ClientPeer  # noqa: E402

FRAME_S = 0.02


class RtpSender:
    """Plain RTP (PT 111, one SSRC) from a list of pre-encoded Opus payloads."""

    def __init__(self, port: int, ssrc: int = 0x5EED1234, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.dst = (host, port)
        self.ssrc = ssrc
        self.seq = 0

    def send(self, payload: bytes, index: int) -> None:
        marker = 0x80 if index == 0 else 0
        header = struct.pack(
            "!BBHII", 0x80, 111 | marker, self.seq & 0xFFFF, (index * 960) & 0xFFFFFFFF, self.ssrc
        )
        self.sock.sendto(header + payload, self.dst)
        self.seq += 1


def run_rtp(wav: str, port: int) -> None:
    payloads = opus_payloads(load48(wav))
    sender = RtpSender(port)
    print(json.dumps({"event": "ready", "frames": len(payloads)}), flush=True)
    start = time.monotonic()
    i = 0
    while True:
        delay = start + i * FRAME_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sender.send(payloads[i % len(payloads)], i)
        i += 1


async def run_podium(wav: str, socket_path: str, room: str, speakers: int) -> None:
    clip = load48(wav)
    tmp = tempfile.mkdtemp(prefix="podium-feeder-")
    peers: list[ClientPeer] = []
    for uid in range(1, speakers + 1):
        # rotate the clip so the speakers do not say the same thing at the same time
        path = os.path.join(tmp, f"speaker{uid}.wav")
        write_wav(path, np.roll(clip, (uid - 1) * clip.size // max(speakers, 1)))
        peer = ClientPeer(ice_hosts=["127.0.0.1"], decode_audio=False)
        offer = await peer.create_offer()
        reply = await podium_request(
            socket_path, {"op": "connect", "room": room, "uid": uid, "sdp": offer.sdp}
        )
        await peer.accept_answer(SessionDescription(sdp=reply["sdp"], type="answer"))
        await peer.wait_connected(20.0)
        peer.play_file(path)
        peers.append(peer)
    print(json.dumps({"event": "ready", "speakers": len(peers)}), flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("mode", choices=("podium", "rtp"))
    parser.add_argument("--wav", required=True)
    parser.add_argument("--port", type=int, default=5002)
    parser.add_argument("--socket", default="/tmp/podium-bench.sock")
    parser.add_argument("--room", default="bench")
    parser.add_argument("--speakers", type=int, default=1)
    args = parser.parse_args()
    if args.mode == "rtp":
        run_rtp(args.wav, args.port)
    else:
        asyncio.run(run_podium(args.wav, args.socket, args.room, args.speakers))


if __name__ == "__main__":
    main()
