"""Avatar images: checked by content, decoded safely, re-encoded small (EXIF and all else dropped).

Only PNG, JPEG and WebP are opened (Pillow is told to try no other decoder), whatever the file
is called. Images over ``MAX_PIXELS`` are refused from their header, before any pixel is
decoded, so a small file that would inflate to gigabytes (a decompression bomb) costs nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from podium.services.errors import Invalid, ServiceError

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # e.g. 8000 x 5000: more than any camera a member is likely to use
SIZE = 256
FORMATS = ("PNG", "JPEG", "WEBP")
CONTENT_TYPE = "image/webp"


class TooLarge(ServiceError):
    status = 413


def _refuse_format() -> Invalid:
    return Invalid("invalid_image", "Avatars must be PNG, JPEG or WebP images.")


def process(data: bytes) -> tuple[bytes, str]:
    """A square ``SIZE`` x ``SIZE`` WebP of the image's centre, and its ETag. Blocking: run it
    in a thread."""
    if len(data) > MAX_BYTES:
        raise TooLarge("too_large", "Avatars are at most 5 MB.")
    if not data:
        raise Invalid("invalid_image", "The upload is empty: send the image as the request body.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise Invalid("image_too_large",
                              "That image has too many pixels (at most 40 megapixels).")
            if image.format == "JPEG":
                image.draft("RGB", (SIZE * 2, SIZE * 2))  # decode JPEGs at a reduced scale
            image.seek(0)  # animated images: the first frame
            image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise _refuse_format() if not _header_ok(data) else Invalid(
            "image_too_large", "That image has too many pixels (at most 40 megapixels).") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise Invalid("invalid_image", "That image is damaged or truncated.") from None
    upright: Image.Image = image
    # A broken orientation tag: keep the pixels as they are.
    with contextlib.suppress(OSError, ValueError, SyntaxError, KeyError):
        upright = ImageOps.exif_transpose(image)
    alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    mode = "RGBA" if alpha else "RGB"
    fitted = ImageOps.fit(upright.convert(mode), (SIZE, SIZE), Image.Resampling.LANCZOS)
    clean = Image.new(mode, (SIZE, SIZE))  # a fresh image: no metadata travels along
    clean.paste(fitted)
    out = io.BytesIO()
    clean.save(out, "WEBP", quality=85, method=4)
    encoded = out.getvalue()
    return encoded, hashlib.sha256(encoded).hexdigest()[:16]


def _header_ok(data: bytes) -> bool:
    """Is this one of our formats (so a failure to open it was its size, not its type)?"""
    return (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"))
