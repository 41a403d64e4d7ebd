"""Images in a user's message: the GA ``input_image`` content part.

A part is ``{"type": "input_image", "image_url": "data:image/png;base64,...", "detail":
"auto" | "low" | "high"}`` in a user message (``conversation.item.create``, or a
``response.create``'s own ``input``). The spec carries the image itself, as a base64 ``data:``
URL; voxgate fetches nothing, so an ``http(s)`` URL is refused. ``check_image`` is the wire's
check (``voxgate.wire``): an image media type, base64 that decodes within the size limit, and
bytes that start as that type's files do. ``image_info`` reads the type and size of a URL
already checked without decoding it (the store keeps that instead of the bytes).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from voxgate.protocol import ProtocolError

SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # then 4 bytes of length and "WEBP"
}
"""The image types taken, and how their files begin."""

HEADER_CHARS = 100
"""How far into a ``data:`` URL its comma may be (``data:image/jpeg;base64,`` is 23)."""
PART = "input_image"


@dataclass(frozen=True)
class ImageInfo:
    """What an image part holds, without its bytes."""

    media_type: str
    size: int
    """Decoded bytes."""


def _split(url: str) -> tuple[str, list[str], str] | None:
    """A ``data:`` URL's media type, its parameters and its data; None if it is not one."""
    if url[:5].lower() != "data:":
        return None
    comma = url.find(",", 5, HEADER_CHARS)
    if comma < 0:
        return None
    media_type, *params = url[5:comma].split(";")
    return media_type.strip().lower(), [p.strip().lower() for p in params], url[comma + 1 :]


def _decoded_size(data: str) -> int:
    """The bytes a base64 text decodes to (its padding counted out)."""
    return len(data) // 4 * 3 - data[-2:].count("=") if data else 0


def image_info(url: Any) -> ImageInfo | None:
    """The media type and decoded size of a ``data:`` URL (nothing decoded); None if not one."""
    if not isinstance(url, str):
        return None
    parts = _split(url)
    if parts is None:
        return None
    media_type, _, data = parts
    return ImageInfo(media_type, _decoded_size(data))


def check_image(url: Any, *, max_bytes: int, param: str, event_id: str | None = None) -> ImageInfo:
    """The image a part's ``image_url`` holds, or the ``ProtocolError`` that refuses it.

    ``image_too_large`` past ``max_bytes`` (counted before decoding); ``invalid_image`` for
    anything else: no URL, a remote URL, a type that is not PNG, JPEG, WebP or GIF, data that
    is not base64, or bytes that are not an image of the type the URL names.
    """

    def refuse(message: str, code: str = "invalid_image") -> ProtocolError:
        return ProtocolError(message, code=code, param=param, event_id=event_id)

    if not isinstance(url, str) or not url:
        raise refuse("an input_image part needs its image_url: a data:image/...;base64 URL")
    parts = _split(url)
    if parts is None:
        if url[:8].lower().startswith(("http://", "https://")):
            raise refuse(
                "image_url must carry the image as a data URL "
                "(data:image/png;base64,...): remote URLs are not fetched"
            )
        raise refuse("image_url must be a data URL: data:image/png;base64,...")
    media_type, params, data = parts
    if media_type not in SIGNATURES:
        taken = ", ".join(SIGNATURES)
        raise refuse(f"image_url's type {media_type or 'none'!r} is not one of {taken}")
    if "base64" not in params:
        raise refuse("image_url must be base64: data:image/png;base64,...")
    size = _decoded_size(data)
    if size > max_bytes:
        raise refuse(
            f"the image is {size} bytes, over the {max_bytes}-byte limit: "
            "send it smaller (scaled down, or as a JPEG)",
            "image_too_large",
        )
    try:
        image = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise refuse("image_url's data is not valid base64") from None
    if not _is(media_type, image):
        raise refuse(f"image_url says {media_type}, but its bytes are not a {media_type} image")
    return ImageInfo(media_type, len(image))


def _is(media_type: str, image: bytes) -> bool:
    if media_type == "image/webp":
        return image[:4] == b"RIFF" and image[8:12] == b"WEBP"
    return image.startswith(SIGNATURES[media_type])


def image_parts(ev: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """A client event's ``input_image`` parts, each with its ``param`` path.

    Those of a ``conversation.item.create``'s item and of a ``response.create``'s ``input``;
    anything malformed is passed over (validation reports it).
    """
    if not isinstance(ev, dict):
        return
    if ev.get("type") == "conversation.item.create":
        yield from _item_parts(ev.get("item"), "item")
    elif ev.get("type") == "response.create" and isinstance(ev.get("response"), dict):
        given = ev["response"].get("input")
        if isinstance(given, list):
            for index, item in enumerate(given):
                yield from _item_parts(item, f"response.input.{index}")


def _item_parts(item: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    content = item.get("content") if isinstance(item, dict) else None
    if not isinstance(content, list):
        return
    for index, part in enumerate(content):
        if isinstance(part, dict) and part.get("type") == PART:
            yield f"{where}.content.{index}.image_url", part


def has_image(item: dict[str, Any]) -> bool:
    """Whether a conversation item is a user message holding an image."""
    return (
        item.get("type") == "message"
        and item.get("role") == "user"
        and any(isinstance(p, dict) and p.get("type") == PART for p in item.get("content") or [])
    )


def without_image_data(ev: dict[str, Any]) -> dict[str, Any]:
    """A server event whose item's image parts are left without their ``image_url``.

    For a client that cannot take the event whole (a WebRTC data channel has a largest
    message); the parts stay, with their ``detail``, so the item's shape is unchanged.
    """
    item = ev.get("item")
    if not isinstance(item, dict) or not has_image(item):
        return ev
    content = [
        {k: v for k, v in part.items() if k != "image_url"}
        if isinstance(part, dict) and part.get("type") == PART
        else part
        for part in item["content"]
    ]
    return {**ev, "item": {**item, "content": content}}
