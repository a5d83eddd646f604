"""Avatar images: checked by content, decoded safely, re-encoded small (EXIF and all else dropped).

Only PNG, JPEG and WebP are opened (Pillow is told to try no other decoder), whatever the file
is called. The pixel count is checked from the header, before any pixel is decoded, so a small
file that would inflate to gigabytes (a decompression bomb) costs nothing. The limit depends on
what decoding costs: a sequential JPEG is decoded at 1/8 scale (``draft``), so it may be large;
PNG, WebP and JPEGs that libjpeg must hold whole (progressive, several scans, lossless) are
decoded at full size, so their limit is much lower (measured peaks:
tests/security/test_avatar_limits.py). The caller runs at most two decodes at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings

from PIL import Image, UnidentifiedImageError

from podium.services.errors import Invalid, ServiceError

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # sequential JPEGs (decoded at 1/8 scale): e.g. 8000 x 5000
# Decoded at full size (PNG, WebP, progressive JPEG): a 4K screen, 3840 x 2160. WebP costs the
# most, about 16 bytes a pixel (Pillow's decoder keeps two canvases and a copy): ~130 MB here.
MAX_FULL_PIXELS = 8_300_000
SIZE = 256
FORMATS = ("PNG", "JPEG", "WEBP")
CONTENT_TYPE = "image/webp"
# EXIF orientation -> the turn that makes the picture upright (as ImageOps.exif_transpose).
TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
         4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
         6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
         8: Image.Transpose.ROTATE_90}
_SEQUENTIAL_JPEG = (0xC0, 0xC1, 0xC9)  # SOF markers of DCT JPEGs decoded scan line by line
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers


class TooLarge(ServiceError):
    status = 413


def _refuse_format() -> Invalid:
    return Invalid("invalid_image", "Avatars must be PNG, JPEG or WebP images.")


def _damaged() -> Invalid:
    return Invalid("invalid_image", "That image is damaged or truncated.")


def _too_many_pixels(limit: int) -> Invalid:
    return Invalid("image_too_large",
                   f"That image has too many pixels (at most {limit / 1e6:g} megapixels "
                   "for this kind of image).")


def process(data: bytes) -> tuple[bytes, str]:
    """A square ``SIZE`` x ``SIZE`` WebP of the image's centre, and its ETag. Blocking: run it
    in a thread."""
    if len(data) > MAX_BYTES:
        raise TooLarge("too_large", "Avatars are at most 5 MB.")
    if not data:
        raise Invalid("invalid_image", "The upload is empty: send the image as the request body.")
    declared = _declared_size(data)
    if declared is not None and declared[0] * declared[1] > MAX_FULL_PIXELS:
        raise _too_many_pixels(MAX_FULL_PIXELS)  # before the WebP decoder sets up its canvas
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            square = _square(_decode(data))
    except UnidentifiedImageError:
        raise (_damaged() if _header_ok(data) else _refuse_format()) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(MAX_FULL_PIXELS) from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise _damaged() from None
    out = io.BytesIO()
    square.save(out, "WEBP", quality=85, method=4)
    encoded = out.getvalue()
    return encoded, hashlib.sha256(encoded).hexdigest()[:16]


def _decode(data: bytes) -> Image.Image:
    """The first frame, decoded (JPEGs at a reduced scale), after the pixel-count check."""
    image = Image.open(io.BytesIO(data), formats=FORMATS)
    width, height = image.size
    limit = MAX_PIXELS if image.format == "JPEG" and _jpeg_reduces(data) else MAX_FULL_PIXELS
    if width * height > limit:
        raise _too_many_pixels(limit)
    if image.format == "JPEG":
        image.draft("RGB", (SIZE * 2, SIZE * 2))
    image.seek(0)  # animated images: the first frame
    image.load()
    return image


def _square(image: Image.Image) -> Image.Image:
    """The centre square at ``SIZE`` x ``SIZE``, upright, RGB or RGBA, with no metadata."""
    turn = _turn(image)
    alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    mode = "RGBA" if alpha else "RGB"
    if image.mode not in ("RGB", "RGBA", "L", "LA") or "transparency" in image.info:
        image = image.convert(mode)  # palettes, 1-bit, 16-bit, CMYK, colour keys
    width, height = image.size
    side = min(width, height)
    box = ((width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2)
    # reducing_gap: a box reduction first, so only a small image is resampled.
    fitted = image.resize((SIZE, SIZE), Image.Resampling.LANCZOS, box=box,
                          reducing_gap=2.0).convert(mode)
    if turn is not None:
        fitted = fitted.transpose(turn)  # a centre square turns into the same centre square
    clean = Image.new(mode, (SIZE, SIZE))  # a fresh image: no metadata travels along
    clean.paste(fitted)
    return clean


def _turn(image: Image.Image) -> Image.Transpose | None:
    # A broken orientation tag: keep the pixels as they are.
    with contextlib.suppress(OSError, ValueError, SyntaxError, KeyError, TypeError):
        return TURNS.get(image.getexif().get(0x0112))  # type: ignore[arg-type]
    return None


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height as a PNG or WebP header states them (None for JPEG or no header)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        return (int.from_bytes(data[26:28], "little") & 0x3FFF,
                int.from_bytes(data[28:30], "little") & 0x3FFF)
    return None


def _jpeg_reduces(data: bytes) -> bool:
    """Can libjpeg decode this JPEG at a reduced scale without holding all of it? Only a
    sequential DCT JPEG whose first scan has every component: progressive, multi-scan and
    lossless JPEGs keep every coefficient of the full-size image in memory."""
    pos, frame, components = 2, 0, 0
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:
            pos += 1 if marker == 0xFF else 2  # fill byte, or a marker without a length
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker in _SOF and pos + 9 < len(data):
            frame, components = marker, data[pos + 9]
        elif marker == 0xDA and pos + 4 < len(data):
            return frame in _SEQUENTIAL_JPEG and data[pos + 4] == components
        pos += 2 + length
    return False


def _header_ok(data: bytes) -> bool:
    """Is this one of our formats (so a failure to open it means it is damaged)?"""
    return (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"))
