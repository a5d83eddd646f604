"""Ogg Opus (RFC 7845) written and read by hand: no encoder, no muxer, no dependency.

Recordings hold the very Opus packets listeners were sent (a lone speaker's own packets, or
the room's encoded mix), so writing is framing only: pages with a CRC and a granule position
(the 48 kHz sample count at the end of the page's last packet). Reading gives the packets back
with their positions, which is all trimming and clipping need: they copy packet ranges into a
new stream, never decoding or encoding (``cut``).

Pages are written whole; a file cut short mid-page (a crash, a full disk) reads up to its last
complete page, and ``recover`` truncates the broken tail and marks the end of the stream.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 48_000
CAPTURE = b"OggS"
_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, n
FLAG_CONTINUED, FLAG_BOS, FLAG_EOS = 0x01, 0x02, 0x04
MAX_SEGMENTS = 255
# A complete 20 ms Opus packet that decodes to silence (see podium.media.opus.OPUS_SILENCE):
# what a gap in the recording (a lost packet, time with no audio) is filled with.
SILENCE = bytes([0xF8, 0xFF, 0xFE])
SILENCE_SAMPLES = 960


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def crc32(data: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, initial 0)."""
    crc = 0
    table = _CRC
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


def packet_samples(packet: bytes) -> int:
    """Duration of an Opus packet at 48 kHz, from its TOC byte (RFC 6716 section 3.1)."""
    if not packet:
        return 0
    toc = packet[0]
    config = toc >> 3
    if config < 12:  # SILK: 10, 20, 40, 60 ms
        frame = (480, 960, 1920, 2880)[config & 3]
    elif config < 16:  # hybrid: 10, 20 ms
        frame = (480, 960)[config & 1]
    else:  # CELT: 2.5, 5, 10, 20 ms
        frame = (120, 240, 480, 960)[config & 3]
    code = toc & 3
    if code == 0:
        count = 1
    elif code in (1, 2):
        count = 2
    else:
        count = packet[1] & 0x3F if len(packet) > 1 else 0
    return frame * count


def page(payload: list[bytes], granule: int, serial: int, seq: int, flags: int = 0) -> bytes:
    """One page holding these whole packets (at most 255 lacing values in all)."""
    lacing = bytearray()
    for packet in payload:
        lacing += b"\xff" * (len(packet) // 255) + bytes([len(packet) % 255])
    if len(lacing) > MAX_SEGMENTS:
        raise ValueError("too many packets for one page")
    head = _HEADER.pack(CAPTURE, 0, flags, granule, serial, seq, 0, len(lacing))
    data = head + bytes(lacing) + b"".join(payload)
    crc = crc32(data)
    return data[:22] + struct.pack("<I", crc) + data[26:]


def lacing_size(packet: bytes) -> int:
    return len(packet) // 255 + 1


def opus_head(channels: int = 1, pre_skip: int = 0) -> bytes:
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, SAMPLE_RATE, 0, 0)


def opus_tags(title: str = "") -> bytes:
    vendor = b"podium"
    comments = [f"TITLE={title}".encode()[:1000]] if title else []
    out = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(comments))
    for comment in comments:
        out += struct.pack("<I", len(comment)) + comment
    return out


def header_pages(serial: int, title: str = "") -> bytes:
    """The two header pages every Ogg Opus stream starts with (sequence numbers 0 and 1)."""
    return page([opus_head()], 0, serial, 0, FLAG_BOS) + page([opus_tags(title)], 0, serial, 1)


@dataclass(frozen=True, slots=True)
class Page:
    offset: int
    end: int  # offset just past the page
    flags: int
    granule: int
    serial: int
    seq: int
    packets: list[bytes]  # whole packets ending on this page (continued ones joined)


def pages(data: bytes, verify: bool = True) -> Iterator[Page]:
    """The valid pages of a file's bytes, in order; stops at the first broken or short one.

    ``verify=False`` skips the CRC (in pure Python, the slow part) for files we wrote
    ourselves: a torn last page is still found short and left out."""
    offset = 0
    pending = b""  # a packet continued onto the next page
    while offset + 27 <= len(data):
        capture, version, flags, granule, serial, seq, crc, count = _HEADER.unpack_from(
            data, offset)
        if capture != CAPTURE or version != 0 or offset + 27 + count > len(data):
            return
        lacing = data[offset + 27:offset + 27 + count]
        body = offset + 27 + count
        end = body + sum(lacing)
        if end > len(data):
            return
        if verify:
            raw = bytearray(data[offset:end])
            raw[22:26] = b"\0\0\0\0"
            if crc32(bytes(raw)) != crc:
                return
        packets, start, size = [], body, 0
        for value in lacing:
            size += value
            if value < 255:
                packets.append(pending + data[start:start + size])
                pending, start, size = b"", start + size, 0
        if size:
            pending += data[start:start + size]
        yield Page(offset, end, flags, granule, serial, seq, packets)
        offset = end


@dataclass(frozen=True, slots=True)
class Packet:
    start: int  # position (48 kHz samples) of the packet's first sample
    data: bytes

    @property
    def samples(self) -> int:
        return packet_samples(self.data)


def audio_packets(data: bytes, verify: bool = True) -> Iterator[Packet]:
    """The audio packets of an Ogg Opus file (headers skipped), with their positions."""
    pos = 0
    index = 0
    for pg in pages(data, verify):
        for packet in pg.packets:
            index += 1
            if index <= 2:
                continue  # OpusHead, OpusTags
            yield Packet(pos, packet)
            pos += packet_samples(packet)


def duration_samples(data: bytes, verify: bool = True) -> int:
    """The last complete page's granule position: what a player can play of the file."""
    last = 0
    for pg in pages(data, verify):
        last = max(last, pg.granule)
    return last


def stream(packets: Iterable[bytes], serial: int, title: str = "",
           page_samples: int = SAMPLE_RATE) -> bytes:
    """A complete Ogg Opus file of these packets (about ``page_samples`` per page)."""
    out = bytearray(header_pages(serial, title))
    seq, granule = 2, 0
    batch: list[bytes] = []
    segments = 0
    start = 0
    for packet in packets:
        if batch and (segments + lacing_size(packet) > MAX_SEGMENTS
                      or granule - start >= page_samples):
            out += page(batch, granule, serial, seq)
            seq, batch, segments, start = seq + 1, [], 0, granule
        batch.append(packet)
        segments += lacing_size(packet)
        granule += packet_samples(packet)
    out += page(batch, granule, serial, seq, FLAG_EOS)
    return bytes(out)


def cut(data: bytes, start_ms: int, end_ms: int | None, serial: int, title: str = "") -> bytes:
    """The packets starting in [start_ms, end_ms) as a new file, copied as they are."""
    start = start_ms * SAMPLE_RATE // 1000
    end = None if end_ms is None else end_ms * SAMPLE_RATE // 1000
    chosen = (p.data for p in audio_packets(data, verify=False)
              if p.start >= start and (end is None or p.start < end))
    return stream(chosen, serial, title)


def recover(path: Path) -> int:
    """Make a file left open by a crash whole: drop a broken tail, mark its last page as the
    end of the stream. Returns the duration in samples (0 if not even the headers survived)."""
    data = path.read_bytes()
    last: Page | None = None
    count = 0
    for pg in pages(data):
        last = pg
        count += 1
    if last is None or count < 2:
        return 0
    with open(path, "r+b") as f:
        if last.end < len(data):
            f.truncate(last.end)
        if not last.flags & FLAG_EOS and count > 2:
            f.seek(last.offset)
            f.write(page(last.packets, last.granule, last.serial, last.seq,
                         last.flags | FLAG_EOS))
        f.flush()
        os.fsync(f.fileno())
    return last.granule
