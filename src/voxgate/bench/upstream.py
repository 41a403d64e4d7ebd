"""A cheap OpenAI Realtime server for ``bench relay``: each spoken turn gets 1 s of audio.

It shares the machine's cores with the server measured, so it does as little as it can: a frame
of input audio is silence when its base64 is all ``A`` (zero samples), a turn ends after
``SILENCE_MS`` of silence following sound, and the reply's events are JSON strings made once per
connection, only the ids changing. Run it as ``python -m voxgate.bench.upstream --port P``; it
serves ``/v1/realtime`` (the path the ``openai`` SDK opens for ``base_url=http://host:P/v1``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import logging
import math
import struct
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

RATE = 24_000
FRAME_MS = 20
SILENCE_MS = 200
"""Silence after sound that ends a turn (the same for the direct baseline and the relay)."""
REPLY_MS = 1000
REPLY_CHUNK_MS = 40

_ids = itertools.count()


def _tone(ms: int, hz: float = 330.0) -> bytes:
    n = RATE * ms // 1000
    return struct.pack(
        f"<{n}h", *(int(8000 * math.sin(2 * math.pi * hz * i / RATE)) for i in range(n))
    )


_CHUNK_B64 = base64.b64encode(_tone(REPLY_CHUNK_MS)).decode()
_CHUNKS = REPLY_MS // REPLY_CHUNK_MS


def _session(model: str) -> dict[str, Any]:
    fmt = {"type": "audio/pcm", "rate": RATE}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": f"sess_sim{next(_ids)}",
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "audio": {
            "input": {"format": fmt, "turn_detection": None, "transcription": None},
            "output": {"format": fmt, "voice": "alloy", "speed": 1.0},
        },
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "truncation": "auto",
    }


def _reply(n: int) -> list[str]:
    """The events of one spoken reply, as JSON."""
    resp, item = f"resp_sim{n}", f"item_sim{n}"
    out_item = {"id": item, "type": "message", "object": "realtime.item", "role": "assistant"}
    part = {"type": "audio", "transcript": ""}
    usage = {
        "total_tokens": 60,
        "input_tokens": 10,
        "output_tokens": 50,
        "input_token_details": {"text_tokens": 0, "audio_tokens": 10, "cached_tokens": 0},
        "output_token_details": {"text_tokens": 0, "audio_tokens": 50},
    }
    response = {"id": resp, "object": "realtime.response", "status": "in_progress", "output": []}
    where = {"response_id": resp, "item_id": item, "output_index": 0, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response},
        {
            "type": "response.output_item.added",
            "response_id": resp,
            "output_index": 0,
            "item": {**out_item, "status": "in_progress", "content": []},
        },
        {
            "type": "conversation.item.added",
            "previous_item_id": None,
            "item": {**out_item, "status": "in_progress", "content": []},
        },
        {"type": "response.content_part.added", **where, "part": part},
    ]
    events += [
        {"type": "response.output_audio.delta", **where, "delta": _CHUNK_B64}
        for _ in range(_CHUNKS)
    ]
    done_item = {**out_item, "status": "completed", "content": [{"type": "output_audio"}]}
    events += [
        {"type": "response.output_audio.done", **where},
        {"type": "response.output_audio_transcript.done", **where, "transcript": ""},
        {"type": "response.content_part.done", **where, "part": part},
        {
            "type": "response.output_item.done",
            "response_id": resp,
            "output_index": 0,
            "item": done_item,
        },
        {"type": "conversation.item.done", "previous_item_id": None, "item": done_item},
        {
            "type": "response.done",
            "response": {**response, "status": "completed", "output": [done_item], "usage": usage},
        },
    ]
    return [json.dumps({**ev, "event_id": f"event_sim{n}_{i}"}) for i, ev in enumerate(events)]


async def _connection(ws: ServerConnection) -> None:
    model = "gpt-realtime"
    query = (ws.request.path if ws.request else "").partition("?")[2]
    for pair in query.split("&"):
        if pair.startswith("model="):
            model = pair[6:]
    session = _session(model)
    await ws.send(
        json.dumps({"type": "session.created", "event_id": "event_sim", "session": session})
    )
    heard = silent_ms = 0
    try:
        async for message in ws:
            if not isinstance(message, str):
                continue
            if '"input_audio_buffer.append"' in message:
                start = message.index('"', message.index(":", message.index('"audio"'))) + 1
                if message[start : message.index('"', start)].strip("A=") == "":
                    if heard:
                        silent_ms += FRAME_MS
                        if silent_ms >= SILENCE_MS:
                            heard = silent_ms = 0
                            for frame in _reply(next(_ids)):
                                await ws.send(frame)
                else:
                    heard, silent_ms = heard + FRAME_MS, 0
                continue
            ev = json.loads(message)
            if ev.get("type") == "session.update":
                update = ev.get("session") or {}
                session = {**session, **{k: v for k, v in update.items() if k in session}}
                await ws.send(
                    json.dumps({"type": "session.updated", "event_id": "e", "session": session})
                )
    except ConnectionClosed:
        pass


async def run(port: int, ready: asyncio.Event | None = None) -> None:
    """Serve until cancelled."""
    async with serve(_connection, "127.0.0.1", port, compression=None, max_size=None):
        if ready is not None:
            ready.set()
        await asyncio.Future()


def main() -> None:
    """``python -m voxgate.bench.upstream --port P``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # the bench's readiness probe connects and hangs up: not worth a traceback
    logging.getLogger("websockets.server").setLevel(logging.CRITICAL)
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.port))


if __name__ == "__main__":
    main()
