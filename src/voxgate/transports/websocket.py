"""voxgate's WebSocket client: binary PCM16 frames for audio, JSON text frames for events.

The route (``WS /ws/{session_id}``) that opens the session is the app's (``server/sessions.py``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from voxgate.protocol import Event, ProtocolError, to_wire
from voxgate.session import (
    EventWriter,
    Participant,
    Role,
    Session,
)
from voxgate.settings import Settings
from voxgate.transports.client import close_if_ended, join_socket, serve_connection
from voxgate.transports.messages import ClientEventCheck, handle_text
from voxgate.wire import WireLimits

log = logging.getLogger(__name__)


async def serve_client(
    websocket: WebSocket,
    session: Session,
    settings: Settings,
    *,
    check: ClientEventCheck | None = None,
    role: Role = "speaker",
) -> None:
    """One client of ``session`` on an accepted socket, until it disconnects (it then leaves).

    A client too slow to read its events is disconnected (1008, with the reason); one removed
    from the session ``REMOVED_CLOSE_CODE``; one joining a full session gets the ``error``
    and 1008. ``check`` may refuse the client's GA events
    (``transports.messages.ClientEventCheck``).
    """

    async def deliver(ev: Event) -> None:
        if ev["type"] == "response.output_audio.delta":
            await websocket.send_bytes(ev["delta"])
        else:
            await websocket.send_text(json.dumps(to_wire(ev)))
        await close_if_ended(websocket, ev)

    joined = await join_socket(
        websocket, session, deliver, settings, merge_audio, role=role, transport="websocket"
    )
    if joined is None:
        return
    participant, close = joined
    writer = participant.writer
    try:
        reading = _read(websocket, session, participant, settings, check)
        await serve_connection(reading, writer, close)
    finally:
        session.leave(writer)


MERGED_AUDIO_BYTES = 48_000
"""The most reply audio one binary frame carries when deltas queue up (1 s)."""


_PART = ("response_id", "item_id", "output_index", "content_index")
"""What makes two deltas one content part's."""


class _Merged(dict[str, Any]):
    """A delta made of queued ones, its audio a bytearray of its own.

    The queued events' audio is shared with the other participants and the recorder, and is
    never changed.
    """


def merge_audio(first: Event, then: Event) -> Event | None:
    """Two queued audio deltas of the same content part as one binary frame, else None.

    A hosted model sends a reply's audio faster than real time; what queued up while a frame
    was being sent goes out as one (a relayed reply: ~2 frames instead of 25).
    """
    if (
        then["type"] != "response.output_audio.delta"
        or first["type"] != "response.output_audio.delta"
        or len(first["delta"]) + len(then["delta"]) > MERGED_AUDIO_BYTES
        or any(first.get(key) != then.get(key) for key in _PART)
    ):
        return None
    if isinstance(first, _Merged):  # ours: later deltas are appended in place
        first["delta"] += then["delta"]
        return first
    return _Merged(first, delta=bytearray(first["delta"]) + then["delta"])


async def _read(
    websocket: WebSocket,
    session: Session,
    participant: Participant,
    settings: Settings,
    check: ClientEventCheck | None,
) -> None:
    writer: EventWriter = participant.writer
    limits = WireLimits.from_settings(settings)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                if (data := message.get("bytes")) is not None:
                    await _on_audio(session, participant, data, settings.max_binary_frame_bytes)
                elif (text := message.get("text")) is not None:
                    await handle_text(session, text, limits, check=check, participant=participant)
            except ProtocolError as exc:
                session.refuse(writer, exc.to_event())
    except WebSocketDisconnect:
        pass


async def _on_audio(session: Session, participant: Participant, data: bytes, limit: int) -> None:
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
        await session.append_audio(data, participant)
