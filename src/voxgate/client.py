"""A WebSocket client of ``/ws/{session_id}`` that speaks PCM and records what it hears, when.

Used by ``voxgate bench`` and the end-to-end tests; also a small example of the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets

from voxgate.audio import SAMPLE_RATE
from voxgate.protocol import Event

FRAME_MS = 20


def spoken_reply_done(ev: Event) -> bool:
    """Whether ``ev`` ends the response that answers in words (or one that ended early).

    A turn that calls a tool has two: the call's, then the one that speaks its result.
    """
    if ev["type"] != "response.done":
        return False
    response = ev["response"]
    return response["status"] != "completed" or any(
        item.get("type") == "message" for item in response.get("output") or []
    )


def cut_by_next_words(ev: Event) -> bool:
    """Whether ``ev`` ends a response cut by the speaker's next words (``turn_detected``).

    When a pause inside a sentence ("Thank you, | that's all.") was taken for the end of the
    turn, the reply started is cut as the speaker goes on; the reply to the whole sentence
    follows. A caller who waits for their answer waits past it.
    """
    if ev["type"] != "response.done":
        return False
    response = ev["response"]
    reason = (response.get("status_details") or {}).get("reason")
    return response["status"] == "cancelled" and reason == "turn_detected"


@dataclass
class Received:
    """Everything the server sent, with arrival times (``time.monotonic()``)."""

    events: list[tuple[float, Event]] = field(default_factory=list)
    audio: list[tuple[float, int]] = field(default_factory=list)  # (time, bytes)

    def types(self) -> list[str]:
        """Event types in arrival order."""
        return [ev["type"] for _, ev in self.events]


class VoiceClient:
    """``async with VoiceClient(url) as c``: send audio and text, wait for events."""

    def __init__(self, url: str, *, api_key: str | None = None) -> None:
        self.url = url
        self.api_key = api_key
        self.received = Received()
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> VoiceClient:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else None
        self._ws = await websockets.connect(self.url, max_size=None, additional_headers=headers)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._ws.close()

    async def send_json(self, data: dict[str, Any]) -> None:
        """One text frame."""
        await self._ws.send(json.dumps(data))

    async def send_raw(self, data: str | bytes) -> None:
        """A frame exactly as given (for testing bad input)."""
        await self._ws.send(data)

    async def stream(self, pcm: bytes, *, realtime: bool = True, frame_ms: int = FRAME_MS) -> float:
        """Send PCM16 24 kHz in frames, paced like a microphone; returns when it started.

        A microphone hands over a frame once it has been recorded, so with ``realtime`` the
        frame holding ``pcm[t]`` leaves at the end of that frame: ``start + t`` or a little later.
        """
        frame = SAMPLE_RATE * 2 * frame_ms // 1000
        start = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), frame)):
            if realtime:
                due = start + (index + 1) * frame_ms / 1000
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            await self._ws.send(pcm[offset : offset + frame])
        return start

    async def wait_for(
        self,
        predicate: Callable[[Event], bool] | str,
        *,
        after: int = 0,
        timeout: float = 30.0,
    ) -> tuple[int, Event]:
        """The first event (from index ``after``) matching ``predicate`` or having that type."""
        match = (lambda ev: ev["type"] == predicate) if isinstance(predicate, str) else predicate
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for index in range(after, len(self.received.events)):
                    ev = self.received.events[index][1]
                    if match(ev):
                        return index, ev
                after = len(self.received.events)
                await self._changed.wait()

    @property
    def close_code(self) -> int | None:
        """How the server closed the connection (None while open)."""
        code: int | None = self._ws.close_code
        return code

    async def closed(self) -> None:
        """Wait until the connection has closed."""
        await self._ws.wait_closed()

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):  # a close code says why
            async for message in self._ws:
                now = time.monotonic()
                async with self._changed:
                    if isinstance(message, bytes):
                        self.received.audio.append((now, len(message)))
                    else:
                        self.received.events.append((now, json.loads(message)))
                    self._changed.notify_all()
