"""Avatar uploads cannot exhaust the server: pixel limits by decoder, a per-account rate, at most
two decodes at a time, and damaged files named as such (security issue #18, items 4 and 15).

The memory test decodes each image in a fresh Python process and reads its peak resident size
(``VmHWM``, a high-water mark) before and after ``avatars.process``. The bound, 150 MB, is
the worst accepted image, a 3840 x 2160 WebP (Pillow's WebP decoder holds two canvases and a
copy, ~16 bytes a pixel: ~130 MB measured), plus room for allocator noise; two decodes at a time
keep a server's avatar work under ~300 MB. Before the fix one 6300 x 6300 PNG took +455 MB.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from PIL import Image

from podium.services import avatars
from tests.api.helpers import assert_error, eventually, member, members, ok
from tests.conftest import Server

DECODES = 2  # decodes at a time in one server process
BOUND_MB = 150.0  # accepted images; see the module docstring
REFUSED_MB = 16.0  # refused from the header: nothing is decoded

MEASURE = r"""
import json, sys
from podium.services import avatars

def peak_kib():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the process that forked us
    # (pytest, far bigger), which would hide the growth.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

warm, path = sys.argv[1], sys.argv[2]
avatars.process(open(warm, "rb").read())  # lazy imports and codec set-up are not the image
data = open(path, "rb").read()
before = peak_kib()
try:
    avatars.process(data)
    outcome = "ok"
except avatars.ServiceError as exc:
    outcome = exc.code
print(json.dumps({"outcome": outcome, "growth_mb": (peak_kib() - before) / 1024}))
"""


def png_zeros(width: int, height: int, color_type: int = 6, trns: bytes = b"") -> bytes:
    """An all-zero PNG written row by row (a huge image from a few kilobytes, as in the
    attack), without ever holding the pixels."""
    channels = {0: 1, 2: 3, 3: 1, 6: 4}[color_type]
    pack = zlib.compressobj(9)
    row = b"\0" * (width * channels + 1)
    idat = b"".join(pack.compress(row) for _ in range(height)) + pack.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    extra = chunk(b"PLTE", b"\0\0\0") if color_type == 3 else b""
    extra += chunk(b"tRNS", trns) if trns else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def encoded(fmt: str, size: tuple[int, int], mode: str = "RGB", **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, fmt, **save)
    return out.getvalue()


def webp_header_only(width: int, height: int) -> bytes:
    """A WebP (VP8X) header claiming a canvas of this size, and nothing else."""
    body = (b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0"
            + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))
    return b"RIFF" + struct.pack("<I", len(body)) + body


FOUR_K = (3840, 2160)  # the full-decode limit, 8.3 megapixels
# The heaviest image of each decoder that is accepted.
ACCEPTED: dict[str, Callable[[], bytes]] = {
    "webp_rgba_4k": lambda: encoded("WEBP", FOUR_K, "RGBA", quality=10, method=0),
    "png_rgba_4k": lambda: png_zeros(*FOUR_K),
    "png_rgb_colour_key_4k": lambda: png_zeros(*FOUR_K, color_type=2, trns=b"\0" * 6),
    "png_palette_4k": lambda: png_zeros(*FOUR_K, color_type=3, trns=b"\0"),
    "jpeg_progressive_cmyk_4k": lambda: encoded("JPEG", FOUR_K, "CMYK", progressive=True,
                                                subsampling=0),
    "jpeg_sequential_40mp": lambda: encoded("JPEG", (8000, 5000), quality=50),
}
# The largest refused ones: each costs nothing, refused before any pixel is decoded.
REFUSED: dict[str, Callable[[], bytes]] = {
    "png_6300_attack": lambda: png_zeros(6300, 6300),
    "png_just_over": lambda: png_zeros(3841, 2161, color_type=0),
    "png_65535": lambda: png_zeros(1, 1)[:33].replace(b"\0\0\0\x01\0\0\0\x01",
                                                      b"\0\0\xff\xff\0\0\xff\xff", 1),
    "webp_16384": lambda: webp_header_only(16384, 16384),
    "jpeg_progressive_40mp": lambda: encoded("JPEG", (8000, 5000), progressive=True),
}


def measure(tmp_path: Path, name: str, data: bytes) -> dict[str, Any]:
    warm = tmp_path / "warm.bin"
    fmt = "WEBP" if data[8:12] == b"WEBP" else "JPEG" if data[:2] == b"\xff\xd8" else "PNG"
    warm.write_bytes(encoded(fmt, (64, 64)))  # the same decoder, set up beforehand
    path = tmp_path / name
    path.write_bytes(data)
    run = subprocess.run([sys.executable, "-c", MEASURE, str(warm), str(path)],
                         capture_output=True, text=True, timeout=60, check=True)
    result: dict[str, Any] = json.loads(run.stdout)
    print(f"{name}: {result['outcome']}, +{result['growth_mb']:.1f} MB")  # for the record
    return result


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_worst_accepted_images_stay_under_the_memory_bound(tmp_path: Path, name: str) -> None:
    result = measure(tmp_path, name, ACCEPTED[name]())
    assert result["outcome"] == "ok"
    assert result["growth_mb"] < BOUND_MB, result


@pytest.mark.parametrize("name", list(REFUSED))
def test_largest_refused_images_cost_nothing(tmp_path: Path, name: str) -> None:
    result = measure(tmp_path, name, REFUSED[name]())
    assert result["outcome"] == "image_too_large"
    assert result["growth_mb"] < REFUSED_MB, result


def test_truncated_and_damaged_images_are_not_called_too_large() -> None:
    png = encoded("PNG", (64, 64))
    jpeg = encoded("JPEG", (64, 64))
    for data in (png[:20], png[:33], png[:40], jpeg[:5], webp_header_only(64, 64)):
        with pytest.raises(avatars.Invalid) as caught:
            avatars.process(data)
        assert caught.value.code == "invalid_image", data
        assert "damaged or truncated" in caught.value.message


async def test_truncated_png_upload_is_invalid_image(server: Server) -> None:
    alice = await member(server, "alice")
    truncated = encoded("PNG", (64, 64))[:33]  # the signature and the header, no pixels
    body = assert_error(await alice.http.put("/profile/avatar", content=truncated), 422,
                        "invalid_image")
    assert "damaged or truncated" in body["message"]


async def test_parallel_uploads_beyond_the_rate_get_429(
        make_server: Callable[..., Any]) -> None:
    async with make_server(rate_avatar="3/600") as server:
        alice, bob = await members(server, "alice", "bob")
        picture = encoded("PNG", (64, 64))
        answers = await asyncio.gather(*(alice.http.put("/profile/avatar", content=picture)
                                         for _ in range(6)))
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200, 200, 200, 429, 429, 429], statuses
        for refused in (r for r in answers if r.status_code == 429):
            assert_error(refused, 429, "rate_limited")
            assert refused.headers["retry-after"] == "200"
        ok(await bob.http.put("/profile/avatar", content=picture))  # per account


class CountingSemaphore(asyncio.Semaphore):
    """Counts the uploads that reached the decoding queue."""

    arrived = 0

    async def acquire(self) -> Literal[True]:
        self.arrived += 1
        return await super().acquire()


async def test_at_most_two_decodes_at_a_time(server: Server,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    lock, release = threading.Lock(), threading.Event()
    running = {"now": 0, "peak": 0}

    def slow_process(data: bytes) -> tuple[bytes, str]:
        with lock:
            running["now"] += 1
            running["peak"] = max(running["peak"], running["now"])
        release.wait(30)
        with lock:
            running["now"] -= 1
        return encoded("WEBP", (8, 8)), "etag"

    monkeypatch.setattr(avatars, "process", slow_process)
    queue = CountingSemaphore(DECODES)
    server.services.community.profiles._decoding = queue
    people = await members(server, *(f"p{i}" for i in range(5)))
    uploads = [asyncio.ensure_future(p.http.put("/profile/avatar", content=b"image"))
               for p in people]
    try:
        await eventually(lambda: queue.arrived == 5 and running["now"] == DECODES,
                         what="five uploads queued, two decoding")
        assert running["peak"] == DECODES
    finally:
        release.set()
        answers = await asyncio.gather(*uploads, return_exceptions=True)
    for answer in answers:
        ok(answer)
    assert running["peak"] == DECODES
