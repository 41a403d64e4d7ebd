"""WebRTC clients (aiortc): Opus audio both ways, events on the ``oai-events`` data channel.

``POST /api/webrtc/offer`` takes ``{"sdp", "type"[, "session_id"]}`` and answers
``{"sdp", "type", "session_id"}``. The data channel carries the WebSocket transport's JSON events
both ways; agent audio travels on the track instead of ``response.output_audio.delta``.
``/v1/realtime/calls`` (see ``transports.calls``) uses the same ``Peer`` with GA events only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from fastapi import APIRouter, FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from voxgate.protocol import Event, ProtocolError, event, new_id, to_wire
from voxgate.session import EventWriter, Session, SessionRegistry
from voxgate.settings import Settings
from voxgate.transports import rtc_decode
from voxgate.transports.messages import SESSION_ID, SESSION_ID_RULE, handle_text, request_agent
from voxgate.transports.rtc_media import FRAME_MS, AgentAudioTrack, read_microphone

log = logging.getLogger(__name__)
router = APIRouter()
rtc_decode.install()

CHANNEL = "oai-events"
CONNECT_TIMEOUT_S = 30.0
_FLUSH_ON = {
    "input_audio_buffer.speech_started",
    "conversation.item.truncated",
    "output_audio_buffer.cleared",
}


class Peer:
    """One WebRTC client in a session; closes itself when the connection fails or ends.

    ``ga_only`` (the OpenAI-compatible ``/calls``) keeps ``voxgate.*`` events off the channel
    and accepts GA client events only.
    """

    def __init__(self, app: FastAPI, session: Session, *, ga_only: bool = False) -> None:
        settings: Settings = app.state.settings
        self.id = new_id("rtc")
        self.session = session
        self.ga_only = ga_only
        self._app = app
        self._settings = settings
        servers = [RTCIceServer(**s.model_dump()) for s in settings.webrtc_ice_servers]
        # An explicit list: aiortc falls back to a public STUN server when given None.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.track = AgentAudioTrack(on_playing=self._on_playing)
        self.writer = EventWriter(self._deliver, max_pending=settings.client_queue_size)
        self.channel: RTCDataChannel | None = None
        self._unsent: list[str] = []
        self._response_id = ""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.answer_sdp = ""
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    async def answer(self, sdp: str, type_: str = "offer") -> str:
        """Take the client's offer; the answer carries every gathered candidate."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=type_))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"the SDP offer could not be used: {exc}") from None
        audio = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
        if not audio and self.pc.sctp is None:
            raise ValueError(
                "the SDP offer has neither an audio track nor a data channel; "
                "add a microphone track and/or the 'oai-events' data channel"
            )
        if audio:
            self.pc.addTrack(self.track)
            opus = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.name == "opus"]
            audio[0].setCodecPreferences(opus)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.answer_sdp = with_ptime(self.pc.localDescription.sdp, FRAME_MS)
        self.session.join(self.writer)
        self._spawn(self.writer.run())
        self._spawn(self._watchdog())
        return self.answer_sdp

    # -- session events out --------------------------------------------------------------

    async def _deliver(self, ev: Event) -> None:
        type_ = ev["type"]
        if type_ == "response.output_audio.delta":
            self._response_id = ev.get("response_id", "")
            self.track.push(ev["delta"])
            return
        cancelled = type_ == "response.done" and ev["response"].get("status") == "cancelled"
        flushed = (type_ in _FLUSH_ON or cancelled) and self.track.flush()
        if flushed and type_ != "output_audio_buffer.cleared":
            self._send_json(event("output_audio_buffer.cleared", response_id=self._response_id))
        if self.ga_only and type_.startswith("voxgate."):
            return
        self._send_json(to_wire(ev))

    def _send_json(self, data: Event) -> None:
        text = json.dumps(data)
        channel = self.channel
        if self._closed:
            return
        if channel is None or channel.readyState != "open":
            self._unsent.append(text)
            return
        if channel.transport.transport.state != "connected":
            return  # the peer is going away; sending now only raises inside aiortc
        channel.send(text)

    def _on_playing(self, playing: bool) -> None:
        type_ = "output_audio_buffer.started" if playing else "output_audio_buffer.stopped"
        self._send_json(event(type_, response_id=self._response_id))

    def _voxgate_event(self, type_: str, **fields: Any) -> None:
        if not self.ga_only:
            self._send_json(event(type_, **fields))

    # -- client in -------------------------------------------------------------------------

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != CHANNEL:
            log.info("peer %s: ignoring data channel %r", self.id, channel.label)
            return
        self.channel = channel
        channel.on("message", self._on_message)
        if channel.readyState == "open":
            self._channel_open()
        else:
            channel.on("open", self._channel_open)

    def _channel_open(self) -> None:
        unsent, self._unsent = self._unsent, []
        for text in unsent:
            self._send_json(json.loads(text))
        self._voxgate_event("voxgate.webrtc.connected", session_id=self.session.id, peer_id=self.id)

    def _on_message(self, message: str | bytes) -> None:
        self._spawn(self._handle(message))

    async def _handle(self, message: str | bytes) -> None:
        try:
            if not isinstance(message, str):
                raise ProtocolError(
                    "the data channel carries JSON text; audio goes on the audio track",
                    code="invalid_event",
                )
            await handle_text(self.session, message, shortcuts=not self.ga_only)
        except ProtocolError as exc:
            self.writer.offer(exc.to_event())

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._read_microphone(track))

    async def _read_microphone(self, track: MediaStreamTrack) -> None:
        def first(frame_ms: float) -> None:
            log.info("peer %s: the caller sends %.0f ms audio frames", self.id, frame_ms)

        await read_microphone(track, self.session.append_audio, on_first_frame=first)

    # -- lifecycle -------------------------------------------------------------------------

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        log.info("peer %s (session %s): %s", self.id, self.session.id, state)
        self._voxgate_event("voxgate.webrtc.state", connection_state=state)
        if state in ("failed", "closed"):
            self._spawn_detached(self.close(reason=f"connection {state}"))

    async def _watchdog(self) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        if self.pc.connectionState != "connected":
            await self.close(reason="no connection within 30 s")

    async def close(self, reason: str = "closed") -> None:
        """Leave the session (parked for a reconnect) and release the connection."""
        if self._closed:
            return
        self._closed = True
        log.info("peer %s leaves session %s: %s", self.id, self.session.id, reason)
        self.writer.close()
        self.session.leave(self.writer)
        self.track.stop()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        await self.pc.close()
        peers: dict[str, Peer] = self._app.state.peers
        peers.pop(self.id, None)
        self._spawn_detached(_release_later(self._app, self.session))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn_detached(self, coro: Any) -> None:
        self._app.state.spawn(coro)


def with_ptime(sdp: str, ptime_ms: int) -> str:
    """Ask the caller to send ``ptime_ms`` audio packets (``a=ptime`` in each audio section).

    Fewer, larger packets cost the server less per second of audio; browsers follow the hint.
    """
    lines, out, in_audio = sdp.split("\r\n"), [], False
    for line in lines:
        if line.startswith("m="):
            if in_audio:
                out.append(f"a=ptime:{ptime_ms}")
            in_audio = line.startswith("m=audio")
        out.append(line)
    if in_audio:
        out.insert(len(out) - 1 if out and out[-1] == "" else len(out), f"a=ptime:{ptime_ms}")
    return "\r\n".join(out)


async def _release_later(app: FastAPI, session: Session) -> None:
    """Park an empty session for ``webrtc_park_seconds``, then close it unless rejoined."""
    await asyncio.sleep(app.state.settings.webrtc_park_seconds)
    registry: SessionRegistry = app.state.registry
    await registry.release(session)


async def open_peer(
    app: FastAPI,
    sdp: str,
    *,
    session_id: str | None = None,
    agent: str | bool | None = None,
    ga_only: bool = False,
    config: Event | None = None,
) -> Peer:
    """A connected-to-be peer in session ``session_id`` (new if None).

    ``agent`` names the agent a new session starts with (None: the server's default; False:
    none, a plain model session); ``config`` is the session configuration it starts with.

    ``ValueError`` for an SDP offer it cannot use or an unknown agent.
    """
    if not app.state.settings.webrtc_enabled:
        raise HTTPException(404, "WebRTC is turned off on this server (VOXGATE_WEBRTC_ENABLED)")
    registry: SessionRegistry = app.state.registry
    session_id = session_id or new_id("sess")
    if isinstance(agent, str):
        request_agent(app, session_id, agent)
    session = registry.open(session_id, config=config, agent=agent is not False)
    peer = Peer(app, session, ga_only=ga_only)
    app.state.peers[peer.id] = peer
    try:
        await peer.answer(sdp)
    except BaseException:
        await peer.close(reason="bad offer")
        raise
    return peer


async def close_peers(app: FastAPI) -> None:
    """Hang up every peer (server shutdown)."""
    peers: dict[str, Peer] = getattr(app.state, "peers", {})
    for peer in list(peers.values()):
        with contextlib.suppress(Exception):
            await peer.close(reason="server shutdown")


class Offer(BaseModel):
    """The browser's ``RTCSessionDescription``, plus the session to join or resume."""

    sdp: str = Field(min_length=1)
    type: str = "offer"
    session_id: str | None = None
    agent: str | None = Field(None, description="The agent a new session starts with.")


class Answer(BaseModel):
    """The server's SDP answer and the session the peer is in."""

    sdp: str
    type: str = "answer"
    session_id: str


@router.post("/api/webrtc/offer")
async def webrtc_offer(offer: Offer, request: Request) -> Answer:
    """Connect a WebRTC client: SDP offer in, SDP answer out (candidates included)."""
    if offer.type != "offer":
        raise HTTPException(400, f"expected an SDP of type 'offer', got {offer.type!r}")
    if offer.session_id is not None and not SESSION_ID.match(offer.session_id):
        raise HTTPException(400, SESSION_ID_RULE)
    try:
        peer = await open_peer(
            request.app, offer.sdp, session_id=offer.session_id, agent=offer.agent
        )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return Answer(sdp=peer.answer_sdp, session_id=peer.session.id)
