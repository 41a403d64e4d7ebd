"""Client JSON off the wire, bounded before any work is done on it.

Every byte a client sends is checked against ``WireLimits`` before it costs the server more
than a length check: a text over ``max_event_bytes`` is refused unread, nesting deeper than
``max_json_depth`` is refused before ``json.loads`` (whose C scanner recurses: ~1,000 levels in
2 KB raised ``RecursionError``, and ``copy.deepcopy`` of a config gives up far sooner), audio is
measured while it is still base64, and long texts are refused once validated. Only an image
(an ``input_image`` part, ``max_image_bytes`` at most) may take a message past
``max_event_bytes``, and only by its own size: checked once the message is parsed, then the
image itself (``voxgate.images.check_image``). Large texts are
parsed on a worker thread (``load_event``) so one client's megabytes never hold up other
sessions' events. Each refusal is a ``ProtocolError`` whose code the docs list.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

from voxgate.images import check_image, image_parts
from voxgate.protocol import Event, ProtocolError, parse_client_event
from voxgate.settings import Settings

OFF_LOOP_CHARS = 64 * 1024
"""Texts longer than this are parsed off the event loop."""

# A JSON string (escapes included) or a run of anything but brackets and quotes: what the
# depth check throws away, in one pass of the regex engine.
_NOT_BRACKETS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^\[\]{}"]+')
DATA_URL_CHARS = 64
"""Room for an image's ``data:image/...;base64,`` header beside its base64."""


@dataclass(frozen=True)
class WireLimits:
    """What one client event may hold (``Settings`` fields of the same names)."""

    max_event_bytes: int = 2 * 1024 * 1024
    max_json_depth: int = 32
    max_audio_append_bytes: int = 1024 * 1024
    max_item_text_chars: int = 64_000
    max_instructions_chars: int = 64_000
    max_image_bytes: int = 4 * 1024 * 1024

    @property
    def max_message_bytes(self) -> int:
        """The largest message taken at all: one event, plus one image's base64."""
        return self.max_event_bytes + -(-self.max_image_bytes // 3) * 4 + DATA_URL_CHARS

    @classmethod
    def from_settings(cls, settings: Settings) -> WireLimits:
        """The limits a server was configured with."""
        return cls(
            max_event_bytes=settings.max_event_bytes,
            max_json_depth=settings.max_json_depth,
            max_audio_append_bytes=settings.max_audio_append_bytes,
            max_item_text_chars=settings.max_item_text_chars,
            max_instructions_chars=settings.max_instructions_chars,
            max_image_bytes=settings.max_image_bytes,
        )


def _utf8_size(text: str | bytes, limit: int) -> int:
    """The text's size in bytes, encoding it only when its length alone cannot tell."""
    if isinstance(text, bytes) or len(text) > limit or len(text) * 4 <= limit:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _exact_size(text: str | bytes) -> int:
    if isinstance(text, bytes) or text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _names_an_image(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return b'"input_image"' in text
    return '"input_image"' in text


def nested_deeper_than(text: str, depth: int) -> bool:
    """Whether the JSON ``text`` nests arrays and objects more than ``depth`` levels.

    Each round strips the innermost ``[]`` and ``{}`` pairs (C string operations, no
    recursion), so a document of depth d is gone after d rounds. Malformed text answers False:
    ``json.loads`` reports it.
    """
    if text.count("[") + text.count("{") <= depth:
        return False
    brackets = _NOT_BRACKETS.sub("", text)
    for _ in range(depth):
        inner = brackets.replace("[]", "").replace("{}", "")
        if not inner or inner == brackets:
            return False
        brackets = inner
    return True


def _too_large(size: int, limits: WireLimits, *, images: bool) -> ProtocolError:
    more = (
        f"; an input_image may take a message up to {limits.max_message_bytes} bytes"
        if images
        else ""
    )
    return ProtocolError(
        f"message of {size} bytes is over the {limits.max_event_bytes}-byte limit "
        f"(send audio in smaller appends{more})",
        code="event_too_large",
    )


def loads(text: str | bytes, limits: WireLimits) -> Any:
    """``json.loads`` with the size and depth checked first; a ``ProtocolError`` otherwise."""
    return _load(text, limits, images=False)[0]


def _load(text: str | bytes, limits: WireLimits, *, images: bool) -> tuple[Any, int]:
    """The parsed message and its size in bytes.

    With ``images`` a message over ``max_event_bytes`` is parsed only when it is within
    ``max_message_bytes`` and names an ``input_image`` (``check_room`` then measures it).
    """
    size = _utf8_size(text, limits.max_event_bytes)
    if size > limits.max_event_bytes:
        if images and len(text) <= limits.max_message_bytes:
            size = _exact_size(text)
        if not images or size > limits.max_message_bytes or not _names_an_image(text):
            raise _too_large(size, limits, images=images)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("message is not UTF-8 text", code="invalid_json") from None
    if nested_deeper_than(text, limits.max_json_depth):
        raise ProtocolError(
            f"message nests arrays and objects deeper than {limits.max_json_depth} levels",
            code="json_too_deep",
        )
    try:
        return json.loads(text), size
    except ValueError as exc:  # JSONDecodeError, or an integer of over 4,300 digits
        raise ProtocolError(f"message is not valid JSON: {exc}", code="invalid_json") from None
    except RecursionError:  # malformed and deep: the depth check leaves these to the parser
        raise ProtocolError(
            f"message nests arrays and objects deeper than {limits.max_json_depth} levels",
            code="json_too_deep",
        ) from None


def _too_long(what: str, length: int, limit: int, param: str, event_id: str | None) -> None:
    if length > limit:
        raise ProtocolError(
            f"{what} of {length} characters is over the {limit}-character limit",
            code="string_above_max_length",
            param=param,
            event_id=event_id,
        )


def check_audio(data: Any, limits: WireLimits) -> None:
    """Refuse an ``input_audio_buffer.append`` whose base64 audio decodes past the limit."""
    if not isinstance(data, dict) or data.get("type") != "input_audio_buffer.append":
        return
    audio = data.get("audio")
    if isinstance(audio, str) and len(audio) // 4 * 3 > limits.max_audio_append_bytes:
        limit = limits.max_audio_append_bytes
        event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
        raise ProtocolError(
            f"input_audio_buffer.append carries about {len(audio) // 4 * 3} bytes of audio, "
            f"over the {limit}-byte limit; append smaller chunks (20-100 ms is usual)",
            code="audio_too_large",
            param="audio",
            event_id=event_id,
        )


def check_texts(ev: Event, limits: WireLimits) -> None:
    """Refuse a validated event whose item text or instructions are over the limits."""
    type_, event_id = ev["type"], ev.get("event_id")
    if type_ == "conversation.item.create":
        item = ev.get("item") or {}
        for key in ("output", "arguments"):
            if isinstance(item.get(key), str):
                _too_long(
                    f"item.{key}",
                    len(item[key]),
                    limits.max_item_text_chars,
                    f"item.{key}",
                    event_id,
                )
        for i, part in enumerate(item.get("content") or []):
            for key in ("text", "transcript"):
                if isinstance(part, dict) and isinstance(part.get(key), str):
                    where = f"item.content.{i}.{key}"
                    _too_long(where, len(part[key]), limits.max_item_text_chars, where, event_id)
    elif type_ in ("session.update", "response.create"):
        field = "session" if type_ == "session.update" else "response"
        instructions = (ev.get(field) or {}).get("instructions")
        if isinstance(instructions, str):
            where = f"{field}.instructions"
            _too_long(where, len(instructions), limits.max_instructions_chars, where, event_id)


def check_room(data: Any, size: int, limits: WireLimits) -> None:
    """Refuse a message over ``max_event_bytes`` unless its images are what takes it over."""
    if size <= limits.max_event_bytes:
        return
    images = sum(len(part["image_url"]) for _, part in image_parts(data) if _is_str(part))
    if size - images > limits.max_event_bytes:
        raise _too_large(size, limits, images=True)


def _is_str(part: dict[str, Any]) -> bool:
    return isinstance(part.get("image_url"), str)


def check_images(ev: Event, limits: WireLimits) -> None:
    """Refuse a validated event holding an image that is too large, or not an image."""
    event_id = ev.get("event_id")
    for param, part in image_parts(ev):
        url = part.get("image_url")
        check_image(url, max_bytes=limits.max_image_bytes, param=param, event_id=event_id)


def read_client_event(text: str | bytes, limits: WireLimits) -> Any:
    """A client message, bounded and decoded (not yet validated: shortcuts are not GA events)."""
    data, size = _load(text, limits, images=True)
    check_audio(data, limits)
    check_room(data, size, limits)
    return data


def validate(data: Any, limits: WireLimits) -> Event:
    """A decoded message as a GA client event: validated, audio decoded, texts, images bounded."""
    ev = parse_client_event(data)
    check_texts(ev, limits)
    check_images(ev, limits)
    return ev


async def load_event(text: str | bytes, limits: WireLimits) -> Any:
    """``read_client_event``, on a worker thread for a large text (the loop stays free)."""
    if len(text) > OFF_LOOP_CHARS:
        return await asyncio.to_thread(read_client_event, text, limits)
    return read_client_event(text, limits)


async def validate_event(data: Any, limits: WireLimits, *, size: int) -> Event:
    """``validate``, on a worker thread when the message was ``size`` > ``OFF_LOOP_CHARS``."""
    if size > OFF_LOOP_CHARS:
        return await asyncio.to_thread(validate, data, limits)
    return validate(data, limits)


async def load_client_event(text: str | bytes, limits: WireLimits) -> Event:
    """A GA client event from a wire text, every limit checked (no voxgate shortcuts)."""
    return await validate_event(await load_event(text, limits), limits, size=len(text))
