"""``WS /v1/realtime``: the OpenAI Realtime GA protocol, served — JSON text frames only.

Apps and SDKs written for OpenAI connect here unchanged (``websocket_base_url``), backed by
whatever engine the gateway runs. One connection is one session; ``?call_id=`` instead joins a
live session (a WebRTC call's sideband). The route that authenticates and finds the session is
the app's (``server/openai_api.py``). Audio is base64 in ``input_audio_buffer.append`` and
``response.output_audio.delta``, in the format the client chose (``audio/pcm`` 24 kHz,
``audio/pcmu``, ``audio/pcma``); it is converted here, once, so engines see only PCM16 24 kHz,
and ``session.created`` / ``session.updated`` report the client's formats back.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from voxgate.audio_formats import PCM, AudioDecoder, AudioEncoder, AudioFormat
from voxgate.protocol import SERVER_EVENT_MODELS, Event, ProtocolError, to_wire
from voxgate.session import (
    EventWriter,
    Participant,
    Session,
)
from voxgate.settings import Settings
from voxgate.transports.client import close_if_ended, join_socket, serve_connection
from voxgate.transports.messages import ClientEventCheck
from voxgate.wire import OFF_LOOP_CHARS, WireLimits, load_client_event

log = logging.getLogger(__name__)

SUBPROTOCOL = "realtime"
"""What a browser offers (with ``openai-insecure-api-key.<key>``); the server selects it."""


class EdgeAudio:
    """One client's audio formats and the codecs that convert them at this edge."""

    def __init__(self) -> None:
        self.decoder = AudioDecoder(PCM)
        self.encoder = AudioEncoder(PCM)

    def to_engine(self, session: Event) -> Event:
        """Take the client's formats from a session config; the engine gets PCM16 24 kHz."""
        session = copy.deepcopy(session)
        audio = session.get("audio")
        if not isinstance(audio, dict):
            return session
        for key in ("input", "output"):
            part = audio.get(key)
            if isinstance(part, dict) and part.get("format") is not None:
                fmt = AudioFormat.from_spec(part["format"], param=f"session.audio.{key}.format")
                if key == "input" and fmt != self.decoder.format:
                    self.decoder = AudioDecoder(fmt)
                elif key == "output" and fmt != self.encoder.format:
                    self.encoder = AudioEncoder(fmt)
                part["format"] = PCM.to_spec()
        return session

    def to_client(self, session: Event) -> Event:
        """A session object as the client configured it: its own formats."""
        session = copy.deepcopy(session)
        audio = session.setdefault("audio", {})
        audio.setdefault("input", {})["format"] = self.decoder.format.to_spec()
        audio.setdefault("output", {})["format"] = self.encoder.format.to_spec()
        return session


def _subprotocol(websocket: WebSocket) -> str | None:
    offered = websocket.headers.get("sec-websocket-protocol", "")
    return SUBPROTOCOL if SUBPROTOCOL in [p.strip() for p in offered.split(",")] else None


async def serve_client(
    websocket: WebSocket,
    session: Session,
    edge: EdgeAudio,
    settings: Settings,
    *,
    sideband: bool = False,
    check: ClientEventCheck | None = None,
) -> None:
    """Accept the socket and serve ``session`` on it until the client goes (it then leaves).

    A ``sideband`` (``?call_id=``) follows a call: it does not keep the session alive, and the
    socket closes when the session ends. ``check`` may refuse the client's events.
    """
    await websocket.accept(subprotocol=_subprotocol(websocket))

    async def deliver(ev: Event) -> None:
        wire = _for_client(ev, edge)
        if wire is not None:
            await websocket.send_text(json.dumps(wire))
        await close_if_ended(websocket, ev)

    joined = await join_socket(
        websocket, session, deliver, settings, sideband=sideband, transport="realtime"
    )
    if joined is None:
        return
    participant, close = joined
    writer = participant.writer
    watching = asyncio.create_task(_close_when_over(websocket, session)) if sideband else None
    try:
        try:
            await session.start()
        except ProtocolError as exc:  # the engine refused the secret's session config
            await websocket.send_text(json.dumps(exc.to_event()))
            await websocket.close(code=1008)
            return
        limits = WireLimits.from_settings(settings)
        reading = _read(websocket, session, edge, participant, limits, check)
        await serve_connection(reading, writer, close)
    finally:
        writer.close()
        if watching is not None:
            watching.cancel()
        session.leave(writer)


async def _read(
    websocket: WebSocket,
    session: Session,
    edge: EdgeAudio,
    participant: Participant,
    limits: WireLimits,
    check: ClientEventCheck | None,
) -> None:
    writer: EventWriter = participant.writer
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                await _on_message(session, participant, edge, message, limits, check)
            except ProtocolError as exc:
                session.refuse(writer, exc.to_event())
    except WebSocketDisconnect:
        pass


async def _close_when_over(websocket: WebSocket, session: Session) -> None:
    """A sideband ends with its call."""
    await session.ended.wait()
    with contextlib.suppress(Exception):
        await websocket.close(code=1000, reason="the call has ended")


async def _on_message(
    session: Session,
    participant: Participant,
    edge: EdgeAudio,
    message: Mapping[str, Any],
    limits: WireLimits,
    check: ClientEventCheck | None = None,
) -> None:
    text = message.get("text")
    if text is None:
        raise ProtocolError(
            "binary frames are not part of the Realtime protocol: send JSON text frames "
            "(audio as base64 in input_audio_buffer.append)",
            code="invalid_event",
        )
    ev = await load_client_event(text, limits)
    if check is not None:
        check(ev)
    if ev["type"] == "input_audio_buffer.append":
        try:
            ev["audio"] = await _decode(edge, ev["audio"])
        except ProtocolError as exc:
            exc.event_id = ev.get("event_id")
            raise
        if not ev["audio"]:
            return
    elif ev["type"] == "session.update":
        try:
            ev["session"] = edge.to_engine(ev["session"])
        except ProtocolError as exc:
            exc.event_id = ev.get("event_id")
            raise
    await session.send(ev, participant)


async def _decode(edge: EdgeAudio, audio: bytes) -> bytes:
    """The client's audio as PCM16 24 kHz; a large append is converted off the event loop."""
    if len(audio) > OFF_LOOP_CHARS:
        return await asyncio.to_thread(edge.decoder.decode, audio)
    return edge.decoder.decode(audio)


def _for_client(ev: Event, edge: EdgeAudio) -> Event | None:
    """The wire form of ``ev`` for this client; None for events outside the GA protocol."""
    type_ = ev["type"]
    if type_ == "response.output_audio.delta":
        audio = edge.encoder.encode(ev["delta"])
        return {**ev, "delta": base64.b64encode(audio).decode("ascii")}
    if type_ in ("session.created", "session.updated"):
        return {**ev, "session": edge.to_client(ev["session"])}
    if type_ not in SERVER_EVENT_MODELS:
        return None  # voxgate.* events (metrics, tools) have no place in the OpenAI protocol
    return to_wire(ev)
