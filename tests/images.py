"""Small real images for tests: a PNG made with zlib, and the first bytes of the other types."""

from __future__ import annotations

import base64
import random
import struct
import zlib
from typing import Any

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"


def png(
    width: int = 2,
    height: int = 2,
    rgb: tuple[int, int, int] = (200, 30, 30),
    *,
    noise: bool = False,
) -> bytes:
    """A valid RGB PNG of one colour, or of random pixels (``noise``: it hardly compresses)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    if noise:
        rows = b"".join(b"\x00" + random.randbytes(width * 3) for _ in range(height))
    else:
        rows = (b"\x00" + bytes(rgb) * width) * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(rows)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def data_url(image: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64," + base64.b64encode(image).decode()


def image_message(url: str, text: str | None = None, detail: str = "auto") -> dict[str, Any]:
    """A user message item with an ``input_image`` part (after the text, if any)."""
    content: list[dict[str, Any]] = [{"type": "input_text", "text": text}] if text else []
    content.append({"type": "input_image", "image_url": url, "detail": detail})
    return {"type": "message", "role": "user", "content": content}


def create_image(url: str, text: str | None = None, **fields: Any) -> dict[str, Any]:
    """A ``conversation.item.create`` of ``image_message``."""
    return {"type": "conversation.item.create", "item": image_message(url, text), **fields}
