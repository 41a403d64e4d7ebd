"""WebRTC clients (aiortc): Opus audio both ways, events on the ``oai-events`` data channel.

The data channel carries the WebSocket transport's JSON events both ways; agent audio travels on
the track instead of ``response.output_audio.delta``. ``POST /api/webrtc/offer`` and
``/v1/realtime/calls`` (GA events only) open a ``Peer`` through ``Peers``; a peer that leaves
releases its session to the registry, which keeps it for the grace period, for a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamTrack

from voxgate.protocol import Event, ProtocolError, event, new_id, to_wire
from voxgate.rtc import FRAME_MS, AgentAudioTrack, read_microphone
from voxgate.rtc import channel as data_channel
from voxgate.session import ENDED, Participant, Role, Session, SessionRegistry
from voxgate.settings import Settings
from voxgate.transports.client import CLOSE_TIMEOUT_S, client_writer, drain
from voxgate.transports.messages import ClientEventCheck, handle_text
from voxgate.wire import WireLimits

log = logging.getLogger(__name__)
Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]
"""Runs a task that may outlive its peer (the gateway's, so shutdown cancels it)."""

CHANNEL = "oai-events"
CONNECT_TIMEOUT_S = 30.0
CHANNEL_HIGH_WATER = 1024 * 1024
"""Bytes queued on the data channel past which delivery waits for the client to take them."""
CHANNEL_LOW_WATER = 256 * 1024
MAX_INBOX = 64
"""Client messages waiting to be handled; more are refused (``event_queue_full``)."""
MAX_UNSENT = 1024
"""Events kept for a data channel that has not opened yet."""
_BAD_OFFER = (
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    OperationError,
    InvalidAccessError,
    InvalidStateError,
    InternalError,
)
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

    def __init__(
        self,
        peers: Peers,
        session: Session,
        *,
        ga_only: bool = False,
        check: ClientEventCheck | None = None,
        role: Role = "speaker",
        resumable: bool = True,
    ) -> None:
        settings = peers.settings
        self.id = new_id("rtc")
        self.session = session
        self.ga_only = ga_only
        self.check = check
        self.role: Role = role
        self.resumable = resumable
        """Whether a client can come back to its session (by id): then it outlives the peer."""
        self.participant: Participant | None = None
        self._peers = peers
        servers = [RTCIceServer(**s.model_dump()) for s in settings.webrtc_ice_servers]
        # An explicit list: aiortc falls back to a public STUN server when given None.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.track = AgentAudioTrack(on_playing=self._on_playing)
        self.writer = client_writer(self._deliver, settings)
        self.limits = WireLimits.from_settings(settings)
        self.channel: RTCDataChannel | None = None
        self._unsent: list[str] = []
        self._inbox: asyncio.Queue[str | bytes] = asyncio.Queue(MAX_INBOX)
        self._room = asyncio.Event()
        self._room.set()
        self._held: list[Event] | None = []  # the peer's own events, until session.created
        self._response_id = ""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self.answer_sdp, self.max_message = "", data_channel.DEFAULT_MAX_MESSAGE
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    async def answer(self, sdp: str, type_: str = "offer") -> str:
        """Take the client's offer; the answer carries every gathered candidate."""
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=type_))
        except _BAD_OFFER as exc:
            raise ValueError(
                f"the SDP offer could not be used: {exc or type(exc).__name__}"
            ) from None
        audio = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
        if not audio and self.pc.sctp is None:
            raise ValueError(
                "the SDP offer has neither an audio track nor a data channel; "
                "add a microphone track and/or the 'oai-events' data channel"
            )
        try:
            if audio:
                self.pc.addTrack(self.track)
                opus = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.name == "opus"]
                audio[0].setCodecPreferences(opus)
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except _BAD_OFFER as exc:
            raise ValueError(f"no answer to this SDP offer: {exc or type(exc).__name__}") from None
        self.max_message = data_channel.max_message_size(sdp)  # before any event goes out
        self.answer_sdp = with_ptime(self.pc.localDescription.sdp, FRAME_MS)
        self.participant = self.session.join(  # a ProtocolError when the session is full
            self.writer, role=self.role, transport="webrtc", disconnect=self._removed
        )
        self._spawn(self._write())
        self._spawn(self._read())
        self._spawn(self._watchdog())
        return self.answer_sdp

    # -- session events out --------------------------------------------------------------

    async def _write(self) -> None:
        """The writer's task; a client too slow for its events is hung up on."""
        try:
            await self.writer.run()
        except Exception as exc:
            log.info("peer %s: delivery failed: %r", self.id, exc)
        if self.writer.failure is not None:
            await self.close(reason=self.writer.failure)

    async def _deliver(self, ev: Event) -> None:
        type_ = ev["type"]
        if type_ == "response.output_audio.delta":
            self._response_id = ev.get("response_id", "")
            self.track.push(ev["delta"])
            return
        channel = self.channel
        while (
            channel is not None
            and channel.readyState == "open"
            and channel.bufferedAmount > CHANNEL_HIGH_WATER
        ):
            self._room.clear()  # aiortc queues without limit: wait for the client to take some
            await self._room.wait()
        cancelled = type_ == "response.done" and ev["response"].get("status") == "cancelled"
        flushed = (type_ in _FLUSH_ON or cancelled) and self.track.flush()
        if flushed and type_ != "output_audio_buffer.cleared":
            self._send_json(event("output_audio_buffer.cleared", response_id=self._response_id))
        if type_ == ENDED:  # the engine is gone: hang up (a new offer gets a new session)
            self._peers.spawn(self.close(reason=f"session ended: {ev.get('code')}"))
        if self.ga_only and type_.startswith("voxgate."):
            return
        self._send_json(to_wire(ev))
        if type_ == "session.created" and self._held is not None:
            held, self._held = self._held, None
            for own in held:
                self._send_json(own)

    def _send_json(self, data: Event) -> None:
        text = data_channel.fit_message(data, self.max_message)  # the offer's largest message
        channel = self.channel
        if self._closed:
            return
        if channel is None or channel.readyState != "open":
            if self.pc.sctp is not None and len(self._unsent) < MAX_UNSENT:
                self._unsent.append(text)  # an audio-only peer never gets a channel: keep none
            return
        if channel.transport.transport.state != "connected":
            return  # the peer is going away; sending now only raises inside aiortc
        channel.send(text)

    def _on_playing(self, playing: bool) -> None:
        type_ = "output_audio_buffer.started" if playing else "output_audio_buffer.stopped"
        self._send_json(event(type_, response_id=self._response_id))

    def _voxgate_event(self, type_: str, **fields: Any) -> None:
        if self.ga_only:
            return
        if self._held is None:
            self._send_json(event(type_, **fields))
        else:  # session.created goes first
            self._held.append(event(type_, **fields))

    # -- client in -------------------------------------------------------------------------

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != CHANNEL:
            log.info("peer %s: ignoring data channel %r", self.id, channel.label)
            return
        self.channel = channel
        channel.bufferedAmountLowThreshold = CHANNEL_LOW_WATER
        channel.on("bufferedamountlow", self._room.set)
        channel.on("close", self._room.set)
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
        try:
            self._inbox.put_nowait(message)
        except asyncio.QueueFull:
            self.session.refuse(
                self.writer,
                ProtocolError(
                    f"more than {MAX_INBOX} events are waiting to be handled; "
                    "this one was dropped: send fewer",
                    code="event_queue_full",
                ).to_event(),
            )

    async def _read(self) -> None:
        """The client's messages, one at a time and in order (a large one parses off the loop)."""
        while True:
            message = await self._inbox.get()
            try:
                await self._handle(message)
            except Exception:
                log.exception("peer %s: a client event failed", self.id)

    async def _handle(self, message: str | bytes) -> None:
        try:
            if not isinstance(message, str):
                raise ProtocolError(
                    "the data channel carries JSON text; audio goes on the audio track",
                    code="invalid_event",
                )
            await handle_text(
                self.session,
                message,
                self.limits,
                shortcuts=not self.ga_only,
                check=self.check,
                participant=self.participant,
            )
        except ProtocolError as exc:
            self.session.refuse(self.writer, exc.to_event())

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._read_microphone(track))

    async def _read_microphone(self, track: MediaStreamTrack) -> None:
        def first(frame_ms: float) -> None:
            log.info("peer %s: the caller sends %.0f ms audio frames", self.id, frame_ms)

        append = functools.partial(self.session.append_audio, participant=self.participant)
        await read_microphone(track, append, on_first_frame=first)

    # -- lifecycle -------------------------------------------------------------------------

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        log.info("peer %s (session %s): %s", self.id, self.session.id, state)
        self._voxgate_event("voxgate.webrtc.state", connection_state=state)
        if state in ("failed", "closed"):
            self._peers.spawn(self.close(reason=f"connection {state}"))

    async def _watchdog(self) -> None:
        await asyncio.sleep(CONNECT_TIMEOUT_S)
        if self.pc.connectionState != "connected":
            await self.close(reason="no connection within 30 s")

    async def _removed(self, reason: str) -> None:
        """Removed from the session: its last events reach the channel, then the peer hangs up."""
        await drain(self.writer)
        channel = self.channel
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                # aiortc signals only its low-water mark, not an empty buffer: look again
                while channel is not None and channel.readyState == "open":
                    if not channel.bufferedAmount:
                        break
                    await asyncio.sleep(0.02)
        await self.close(reason=reason)

    async def close(self, reason: str = "closed") -> None:
        """Leave the session (kept a while for a reconnect) and release the connection."""
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
        self._peers.left(self)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


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


class Peers:
    """The WebRTC peers this process serves, by peer id."""

    def __init__(self, settings: Settings, registry: SessionRegistry, spawn: Spawn) -> None:
        self.settings = settings
        self.registry = registry
        self.spawn = spawn
        self._peers: dict[str, Peer] = {}

    async def open(
        self,
        session: Session,
        sdp: str,
        *,
        ga_only: bool = False,
        check: ClientEventCheck | None = None,
        role: Role = "speaker",
        resumable: bool = True,
    ) -> Peer:
        """A connected-to-be peer in ``session`` (as ``role``), answering the offer ``sdp``.

        ``ga_only`` (the OpenAI-compatible ``/calls``) keeps the peer to GA events; ``check``
        may refuse its client events. A ``resumable`` peer's session outlives it for the
        registry's grace period (a client may come back by id). A ``ValueError`` names what
        is wrong with an offer it cannot use; a ``ProtocolError`` (``session_full``) says the
        session has no room.
        """
        peer = Peer(self, session, ga_only=ga_only, check=check, role=role, resumable=resumable)
        self._peers[peer.id] = peer
        try:
            await peer.answer(sdp)
        except BaseException:
            await peer.close(reason="bad offer")
            raise
        return peer

    def in_session(self, session_id: str) -> list[Peer]:
        """The peers of one session (a call's)."""
        return [p for p in self._peers.values() if p.session.id == session_id]

    def left(self, peer: Peer) -> None:
        """``peer`` has closed: its session may close (after the registry's grace period)."""
        self._peers.pop(peer.id, None)
        self.spawn(self.registry.release(peer.session, grace=peer.resumable))

    async def close(self) -> None:
        """Hang up every peer (server shutdown)."""
        for peer in list(self._peers.values()):
            with contextlib.suppress(Exception):
                await peer.close(reason="server shutdown")
