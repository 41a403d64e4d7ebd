"""Cartesia TTS over its streaming WebSocket: one connection per session, one context per reply.

The wire shape follows Cartesia's WebSocket API reference (docs.cartesia.ai: "Text to Speech
(WebSocket)", "Contexts", "Context Flushing and Flush IDs") and Pipecat's
``CartesiaTTSService`` (pipecat/services/cartesia/tts.py), which voice agents run in production:

- connect ``{base_url}/tts/websocket?api_key=...&cartesia_version=...``;
- a generation request ``{"model_id", "transcript", "voice": {"mode": "id", "id"},
  "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate"},
  "context_id", "continue", "max_buffer_delay_ms"}``: every phrase of a reply goes on the
  reply's context with ``continue: true`` (prosody runs on), followed by a manual flush (an
  empty transcript with ``flush: true``) whose ``flush_done`` marks where that phrase's audio
  ends; an empty transcript with ``continue: false`` ends the context;
- ``{"context_id", "cancel": true}`` stops a context at once (barge-in);
- the server answers ``chunk`` (base64 ``data``), ``flush_done``, ``done``, ``timestamps`` and
  ``error``, each with the ``context_id`` it belongs to. Messages of a context that is no
  longer listened to (cancelled or ended) are dropped, so no stale audio reaches a later reply.

Cartesia expires a context 1 s after its last audio went out, and phrases are paced to playback,
so a phrase that comes after a longer pause opens a fresh context (prosody restarts after a pause
anyway).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from voxgate.audio import SAMPLE_RATE
from voxgate.components.tts import SpeechContext, TTSError
from voxgate.settings import Settings

log = logging.getLogger(__name__)

SPEED = (0.6, 1.5)
"""The speeds Cartesia's ``generation_config`` takes; a session's 0.25-1.5 is held within."""
_LOST = {"type": "voxgate.lost"}  # the connection dropped under a context that was listening


class _Context:
    """One reply on the shared connection."""

    def __init__(self, tts: CartesiaTTS, speed: float) -> None:
        self.id = f"voxgate-{uuid.uuid4().hex}"
        self._tts = tts
        self._speed = speed
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._started = False
        self._over = False  # cancelled or ended: nothing more is sent or heard
        self._heard_at = 0.0  # when the server last said something on this context

    def deliver(self, msg: dict[str, Any]) -> None:
        self._heard_at = time.monotonic()
        self._queue.put_nowait(msg)

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        if self._over or not text.strip():
            return
        if self._started and time.monotonic() - self._heard_at > self._tts.context_idle_s:
            self._tts.forget(self)  # expired at Cartesia by now: go on under a new id
            self.id = f"voxgate-{uuid.uuid4().hex}"
            self._started = False
        self._tts.listen(self)
        self._started = True
        await self._tts.send(self._tts.request(self.id, text, speed=self._speed))
        await self._tts.send(self._tts.request(self.id, "", flush=True))
        odd = b""
        while True:
            msg = await self._queue.get()
            type_ = msg.get("type")
            if type_ == "chunk":
                try:
                    pcm = odd + base64.b64decode(msg.get("data") or "", validate=True)
                except (binascii.Error, TypeError) as exc:
                    raise TTSError(f"Cartesia sent undecodable audio: {exc}") from exc
                cut = len(pcm) - len(pcm) % 2
                odd = pcm[cut:]
                if cut:
                    yield pcm[:cut]
            elif type_ in ("flush_done", "done"):
                return
            elif type_ == "error":
                self._over = True
                self._tts.forget(self)
                raise TTSError(f"Cartesia: {_reason(msg)}")
            elif msg is _LOST:
                self._over = True
                raise TTSError("the connection to Cartesia dropped mid-reply")

    def cancel(self) -> None:
        if self._over:
            return
        self._over = True
        self._tts.forget(self)
        if self._started:
            self._tts.send_soon({"context_id": self.id, "cancel": True})

    def end(self) -> None:
        if self._over:
            return
        self._over = True
        self._tts.forget(self)
        if self._started:
            self._tts.send_soon(self._tts.request(self.id, "", last=True))


def _reason(msg: dict[str, Any]) -> str:
    for key in ("error", "message", "title"):
        if msg.get(key):
            return str(msg[key])
    return json.dumps(msg)


class CartesiaTTS:
    """Cartesia's streaming TTS for one session; connects on first use, reconnects after drops."""

    def __init__(
        self,
        *,
        api_key: str,
        voice_id: str,
        model_id: str = "sonic-3.5",
        base_url: str = "wss://api.cartesia.ai",
        version: str = "2026-03-01",
        sample_rate: int = SAMPLE_RATE,
        language: str | None = None,
    ) -> None:
        self.sample_rate = sample_rate
        self._api_key = api_key
        self._voice_id = voice_id
        self._model_id = model_id
        self._base_url = base_url.rstrip("/")
        self._version = version
        self._language = language
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connecting = asyncio.Lock()
        self._contexts: dict[str, _Context] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.connects = 0
        self.context_idle_s = 0.8  # a context quiet this long is taken as expired (Cartesia: 1 s)

    @classmethod
    def from_settings(cls, settings: Settings) -> CartesiaTTS:
        """The provider that ``settings`` describe (``cartesia_*``)."""
        return cls(
            api_key=settings.cartesia_api_key or "",
            voice_id=settings.cartesia_voice_id or "",
            model_id=settings.cartesia_model_id,
            base_url=settings.cartesia_base_url,
            version=settings.cartesia_version,
            language=settings.cartesia_language,
        )

    # -- StreamingTextToSpeech -------------------------------------------------------------

    def context(self, *, speed: float = 1.0) -> SpeechContext:
        """A new context (a reply) at ``speed``; nothing is sent until its first phrase.

        The connection opens now if it is not open: Cartesia advises setting the WebSocket up
        before the generation.
        """
        if self._ws is None or self._ws.state is not State.OPEN:

            async def warm() -> None:
                with contextlib.suppress(TTSError):  # the first phrase tries again and reports
                    await self._connection()

            task = asyncio.create_task(warm())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return _Context(self, speed)

    async def aclose(self) -> None:
        """Close the connection and stop its reader."""
        for task in list(self._tasks):
            task.cancel()
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        self._ws = None

    # -- for contexts ----------------------------------------------------------------------

    def request(
        self,
        context_id: str,
        text: str,
        *,
        flush: bool = False,
        last: bool = False,
        speed: float = 1.0,
    ) -> dict[str, Any]:
        """A generation request on ``context_id``; ``speed`` within Cartesia's 0.6 to 1.5."""
        msg: dict[str, Any] = {
            "model_id": self._model_id,
            "transcript": text,
            "voice": {"mode": "id", "id": self._voice_id},
            "output_format": {
                "container": "raw",
                "encoding": "pcm_s16le",
                "sample_rate": self.sample_rate,
            },
            "context_id": context_id,
            "continue": not last,
            "max_buffer_delay_ms": 0,  # phrases come whole: generate at once, as Pipecat does
        }
        if speed != 1.0:
            msg["generation_config"] = {"speed": min(max(speed, SPEED[0]), SPEED[1])}
        if flush:
            msg["flush"] = True
        if self._language:
            msg["language"] = self._language
        return msg

    def listen(self, ctx: _Context) -> None:
        """Route messages for ``ctx`` to it."""
        self._contexts[ctx.id] = ctx

    def forget(self, ctx: _Context) -> None:
        """Drop whatever still comes for ``ctx``."""
        self._contexts.pop(ctx.id, None)

    async def send(self, msg: dict[str, Any]) -> None:
        """Send ``msg``, (re)connecting first when needed."""
        ws = await self._connection()
        try:
            await ws.send(json.dumps(msg))
        except ConnectionClosed as exc:
            raise TTSError(f"the connection to Cartesia dropped: {exc}") from exc

    def send_soon(self, msg: dict[str, Any]) -> None:
        """Send ``msg`` in the background on the open connection (none: nothing to tell)."""
        ws = self._ws
        if ws is None or ws.state is not State.OPEN:
            return

        async def send() -> None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(msg))

        task = asyncio.create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the connection --------------------------------------------------------------------

    async def _connection(self) -> ClientConnection:
        async with self._connecting:
            if self._ws is not None and self._ws.state is State.OPEN:
                return self._ws
            query = urlencode({"api_key": self._api_key, "cartesia_version": self._version})
            url = f"{self._base_url}/tts/websocket?{query}"
            try:
                ws = await connect(url, open_timeout=10, max_size=None)
            except InvalidStatus as exc:
                body = (exc.response.body or b"").decode(errors="replace").strip()[:200]
                raise TTSError(
                    f"Cartesia refused the connection (HTTP {exc.response.status_code}"
                    + (f": {body})" if body else ")")
                ) from exc
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                raise TTSError(f"cannot reach Cartesia at {self._base_url}: {exc}") from exc
            self.connects += 1
            self._ws = ws
            self._reader = asyncio.create_task(self._read(ws), name="cartesia reader")
            return ws

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    log.warning("Cartesia sent a message that is not JSON; ignored")
                    continue
                if not isinstance(msg, dict):
                    continue
                ctx_id = msg.get("context_id")
                if ctx_id is None and msg.get("type") == "error":
                    for ctx in list(self._contexts.values()):
                        ctx.deliver(msg)
                elif (found := self._contexts.get(str(ctx_id))) is not None:
                    found.deliver(msg)
        except ConnectionClosed:
            pass
        finally:
            if self._ws is ws:
                self._ws = None
            for ctx in list(self._contexts.values()):
                ctx.deliver(_LOST)
            self._contexts.clear()
