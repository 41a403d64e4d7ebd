"""A small Cartesia TTS WebSocket server on 127.0.0.1 speaking the subset voxgate uses.

``/tts/websocket?api_key=...&cartesia_version=...``; generation requests on contexts
(``continue``, ``flush`` → ``flush_done``, ``continue: false`` → ``done``), ``cancel``, and
``chunk`` messages with base64 PCM16 made by Piper (the ``speech`` fixture). It records what it
receives and what audio it sends, per context.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from tests.conftest import free_port
from voxgate.audio import SAMPLE_RATE

API_KEY = "ck-test-key"
STALE = b"\x7f\x7f" * SAMPLE_RATE  # 1 s a lagging server sends after a cancel


class FakeCartesia:
    """``async with FakeCartesia(speech) as fake``: ``fake.url`` is the base URL to use."""

    def __init__(
        self,
        speak: Callable[[str], bytes],
        *,
        chunk_ms: int = 40,
        stale_after_cancel: bool = False,
        bad_voices: tuple[str, ...] = ("no-such-voice",),
    ) -> None:
        self._speak = speak
        self._chunk = SAMPLE_RATE * 2 * chunk_ms // 1000
        self.stale_after_cancel = stale_after_cancel
        self.bad_voices = bad_voices
        self.hold = asyncio.Event()  # cleared: pause after each phrase's first chunk
        self.hold.set()
        self.first_chunk_sent = asyncio.Event()
        self.queries: list[dict[str, list[str]]] = []
        self.received: list[dict[str, Any]] = []
        self.sent_audio: dict[str, bytearray] = defaultdict(bytearray)
        self.cancelled: list[str] = []
        self.connections: list[ServerConnection] = []
        self._server: Server | None = None
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeCartesia:
        self._server = await serve(
            self._handle, "127.0.0.1", self.port, process_request=self._check
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def drop(self) -> None:
        """Close every open connection (as Cartesia does after idling)."""
        for ws in self.connections:
            await ws.close()

    def requests(self, context_id: str | None = None) -> list[dict[str, Any]]:
        """Generation requests received (all or on one context)."""
        return [
            m
            for m in self.received
            if "transcript" in m and (context_id is None or m["context_id"] == context_id)
        ]

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlparse(request.path)
        query = parse_qs(url.query)
        self.queries.append(query)
        if url.path != "/tts/websocket":
            return connection.respond(404, "Not found\n")
        if query.get("api_key") != [API_KEY]:
            return Response(401, "Unauthorized", Headers(), b'{"error":"Invalid API key"}')
        if not query.get("cartesia_version"):
            return connection.respond(400, "cartesia_version is required\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        jobs: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        workers: dict[str, asyncio.Task[None]] = {}
        try:
            async for raw in ws:
                msg = json.loads(raw)
                self.received.append(msg)
                ctx = msg["context_id"]
                if msg.get("cancel"):
                    self.cancelled.append(ctx)
                    if ctx in workers:
                        workers.pop(ctx).cancel()
                    if self.stale_after_cancel:  # frames already in flight
                        await self._send(ws, ctx, STALE, record=False)
                    continue
                if ctx not in jobs:
                    jobs[ctx] = asyncio.Queue()
                    workers[ctx] = asyncio.create_task(self._context(ws, ctx, jobs[ctx]))
                jobs[ctx].put_nowait(msg)
        finally:
            for task in workers.values():
                task.cancel()

    async def _context(
        self, ws: ServerConnection, ctx: str, jobs: asyncio.Queue[dict[str, Any]]
    ) -> None:
        flushes = 0
        while True:
            msg = await jobs.get()
            assert msg["output_format"] == {
                "container": "raw",
                "encoding": "pcm_s16le",
                "sample_rate": SAMPLE_RATE,
            }
            if msg["voice"]["id"] in self.bad_voices:
                await ws.send(
                    json.dumps(
                        {
                            "type": "error",
                            "context_id": ctx,
                            "status_code": 400,
                            "done": True,
                            "error": f"voice {msg['voice']['id']} not found",
                        }
                    )
                )
                return
            if msg["transcript"]:
                pcm = self._speak(msg["transcript"])
                for offset in range(0, len(pcm), self._chunk):
                    await self._send(ws, ctx, pcm[offset : offset + self._chunk])
                    if offset == 0:
                        self.first_chunk_sent.set()
                        await self.hold.wait()
                    await asyncio.sleep(0.002)
            if msg.get("flush"):
                flushes += 1
                await ws.send(
                    json.dumps(
                        {
                            "type": "flush_done",
                            "context_id": ctx,
                            "flush_id": flushes,
                            "done": False,
                        }
                    )
                )
            if not msg["continue"]:
                await ws.send(json.dumps({"type": "done", "context_id": ctx, "done": True}))
                return

    async def _send(
        self, ws: ServerConnection, ctx: str, pcm: bytes, *, record: bool = True
    ) -> None:
        if record:
            self.sent_audio[ctx] += pcm
        await ws.send(
            json.dumps(
                {
                    "type": "chunk",
                    "context_id": ctx,
                    "data": base64.b64encode(pcm).decode(),
                    "done": False,
                    "status_code": 206,
                }
            )
        )
