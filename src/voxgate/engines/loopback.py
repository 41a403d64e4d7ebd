"""An engine that speaks back what it hears: a known audio stream for transport benchmarks.

``VOXGATE_ENGINE=loopback`` serves it: every ``input_audio_buffer.append`` returns at once as a
``response.output_audio.delta``, so a benchmark measures the transports, not the models. Typed
turns echo too: an item created is added to the conversation, and a ``response.create`` answers
with the latest user message's text (a conversation to record and restore without models); an
image in it is told as its type and size.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from voxgate.engines.core.response import ResponseWriter
from voxgate.images import image_info
from voxgate.protocol import Event, event, new_id

_PCM = {"type": "audio/pcm", "rate": 24000}
PREBUFFER_BYTES = 24000 * 2 * 100 // 1000
"""The echo starts after 100 ms of input: a jitter buffer, so playback never runs dry."""


class LoopbackEngine:
    """Echoes input audio as output audio, and typed text as a text reply; ignores the rest."""

    def __init__(self) -> None:
        self._out: asyncio.Queue[Event | None] = asyncio.Queue()
        self._session: dict[str, Any] = {
            "type": "realtime",
            "object": "realtime.session",
            "id": new_id("sess"),
            "model": "voxgate-loopback",
            "output_modalities": ["audio"],
            "audio": {"input": {"format": _PCM}, "output": {"format": _PCM}},
        }
        self._ids = {
            "response_id": new_id("resp"),
            "item_id": new_id("item"),
            "output_index": 0,
            "content_index": 0,
        }
        self._held: bytearray | None = bytearray()
        self._last_user_text = ""
        self._out.put_nowait(event("session.created", session=self._session))

    async def send(self, ev: Event) -> None:
        """Echo audio; acknowledge session updates."""
        if ev["type"] == "input_audio_buffer.append":
            self._out.put_nowait(
                event("response.output_audio.delta", **self._ids, delta=ev["audio"])
            )
        elif ev["type"] == "session.update":
            self._out.put_nowait(event("session.updated", session=self._session))
        elif ev["type"] == "conversation.item.create":
            self._add_item(ev)
        elif ev["type"] == "response.create":
            self._reply(ev.get("response") or {})

    def _add_item(self, ev: Event) -> None:
        item = {**ev["item"], "object": "realtime.item", "status": "completed"}
        item.setdefault("id", new_id("item"))
        if item.get("type") == "message" and item.get("role") == "user":
            texts = [_said(part) for part in item.get("content") or []]
            self._last_user_text = " ".join(t for t in texts if t) or self._last_user_text
        previous = ev.get("previous_item_id")
        self._out.put_nowait(event("conversation.item.added", previous_item_id=previous, item=item))
        self._out.put_nowait(event("conversation.item.done", previous_item_id=previous, item=item))

    def _reply(self, params: dict[str, Any]) -> None:
        writer = ResponseWriter(
            self._out.put_nowait,
            audio=False,
            conversation=params.get("conversation") != "none",
            metadata=params.get("metadata"),
        )
        writer.created()
        writer.add_text(self._last_user_text)
        writer.finish("completed")

    async def events(self) -> AsyncIterator[Event]:
        """Server events until ``close()``."""
        while (ev := await self._out.get()) is not None:
            yield ev

    async def close(self) -> None:
        """End ``events()``."""
        self._out.put_nowait(None)


def _said(part: dict[str, Any]) -> str:
    """A part's text; an image as ``(an image/png image of 68 bytes)``."""
    if part.get("type") == "input_image":
        info = image_info(part.get("image_url"))
        return f"(an {info.media_type} image of {info.size} bytes)" if info else "(an image)"
    return str(part.get("text") or "")
