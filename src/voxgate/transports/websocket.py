"""``WS /ws/{session_id}``: binary PCM16 frames for audio, JSON text frames for events."""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from voxgate.protocol import Event, ProtocolError, error_event, to_wire
from voxgate.session import EventWriter, Session, SessionRegistry
from voxgate.transports.messages import SESSION_ID, SESSION_ID_RULE, handle_text, request_agent

log = logging.getLogger(__name__)
router = APIRouter()


@router.websocket("/ws/{session_id}")
async def session_socket(websocket: WebSocket, session_id: str) -> None:
    """One client of session ``session_id`` (created on first join)."""
    app = websocket.app
    registry: SessionRegistry = app.state.registry
    settings = app.state.settings
    await websocket.accept()
    if not SESSION_ID.match(session_id):
        await websocket.send_json(
            error_event(
                SESSION_ID_RULE,
                code="invalid_session_id",
            )
        )
        await websocket.close(code=1008)
        return

    async def deliver(ev: Event) -> None:
        if ev["type"] == "response.output_audio.delta":
            await websocket.send_bytes(ev["delta"])
        else:
            await websocket.send_text(json.dumps(to_wire(ev)))

    writer = EventWriter(deliver, max_pending=settings.client_queue_size)
    try:
        request_agent(app, session_id, websocket.query_params.get("agent"))
    except ValueError as exc:
        await websocket.send_json(error_event(str(exc), code="unknown_agent", param="agent"))
        await websocket.close(code=1008)
        return
    session = registry.open(session_id)
    session.join(writer)
    writing = app.state.spawn(writer.run())
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
        await registry.release(session)


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
