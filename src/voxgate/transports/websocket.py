"""voxgate's WebSocket client: binary PCM16 frames for audio, JSON text frames for events.

The route (``WS /ws/{session_id}``) that opens the session is the app's (``server/sessions.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging

from fastapi import WebSocket, WebSocketDisconnect

from voxgate.protocol import Event, ProtocolError, to_wire
from voxgate.session import ENDED, ENDED_CLOSE_CODE, EventWriter, Session
from voxgate.settings import Settings
from voxgate.transports.messages import handle_text

log = logging.getLogger(__name__)


async def serve_client(websocket: WebSocket, session: Session, settings: Settings) -> None:
    """One client of ``session`` on an accepted socket, until it disconnects (it then leaves)."""

    async def deliver(ev: Event) -> None:
        if ev["type"] == "response.output_audio.delta":
            await websocket.send_bytes(ev["delta"])
        else:
            await websocket.send_text(json.dumps(to_wire(ev)))
        if ev["type"] == ENDED:  # the engine is gone: a new connection gets a new session
            await websocket.close(ENDED_CLOSE_CODE, str(ev.get("code") or "session ended"))

    writer = EventWriter(deliver, max_pending=settings.client_queue_size)
    session.join(writer)
    writing = asyncio.create_task(writer.run())
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            try:
                if (data := message.get("bytes")) is not None:
                    await _on_audio(session, data, settings.max_binary_frame_bytes)
                elif (text := message.get("text")) is not None:
                    await handle_text(session, text)
            except ProtocolError as exc:
                writer.offer(exc.to_event())
    except WebSocketDisconnect:
        pass
    finally:
        writer.close()
        writing.cancel()
        session.leave(writer)


async def _on_audio(session: Session, data: bytes, limit: int) -> None:
    if len(data) > limit:
        raise ProtocolError(
            f"binary audio frame of {len(data)} bytes is over the {limit}-byte limit; "
            "send smaller frames (20-100 ms)",
            code="audio_frame_too_large",
        )
    if len(data) % 2:
        raise ProtocolError(
            f"binary audio frame of {len(data)} bytes is not whole PCM16 samples "
            "(an even number of bytes)",
            code="invalid_audio",
        )
    if data:
        await session.append_audio(data)
