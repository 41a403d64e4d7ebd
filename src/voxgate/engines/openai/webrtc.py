"""Engine ``openai`` over WebRTC: one upstream call through ``POST {base}/realtime/calls``.

The call is an ``Upstream`` like the SDK's WebSocket, so the engine (reconnects, replay, cost)
does not know which one it drives. Client events go on the ``oai-events`` data channel as JSON,
except ``input_audio_buffer.append``, whose PCM goes straight to the Opus track (in real time,
so an ``input_audio_buffer.commit`` waits until the audio before it has left); the incoming
track's PCM becomes ``response.output_audio.delta`` events (no base64 on the way) while the
upstream says its audio buffer plays (``output_audio_buffer.started`` … ``stopped``). A
response's closing events arrive on the data channel before its audio has been heard, so from
``response.output_audio.done`` on, events wait until the audio has arrived (``stopped``,
``cleared``) — the engine sees the order a WebSocket gives. An event larger than the
upstream's data channel takes (its SDP's ``max-message-size``: a large image) comes back as
the upstream's ``error`` (``event_too_large``) rather than failing the call.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from typing import Any

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from voxgate.engines.openai.connect import UpstreamClosed, decode
from voxgate.protocol import Event, error_event, event
from voxgate.rtc import AgentAudioTrack, read_microphone
from voxgate.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "oai-events"
TAIL_S = 0.25
"""After ``output_audio_buffer.stopped``, audio still in flight (jitter buffer) for this long."""
NO_AUDIO_S = 1.0
"""A response whose audio has not started this long after its ``output_audio.done`` had none."""
_BUFFER_EVENTS = {
    "output_audio_buffer.started",
    "output_audio_buffer.stopped",
    "output_audio_buffer.cleared",
}


class WebRTCUpstream:
    """One Realtime call over WebRTC, as an ``Upstream``."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.mic = AgentAudioTrack()  # paced PCM16 24 kHz → 40 ms Opus frames
        self.channel = self.pc.createDataChannel(CHANNEL)
        self.call_id: str | None = None
        self._url = ""
        self._headers: dict[str, str] = {}
        self._inbox: asyncio.Queue[Event | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        # whose audio is arriving, and where it belongs
        self._parts: dict[str, tuple[str, int, int]] = {}  # response id -> item, output, content
        self._playing: str | None = None  # the response whose audio the track carries
        self._ended: collections.deque[str] = collections.deque(maxlen=64)  # heard to the end
        self._held: list[Event] | None = None  # events after output_audio.done, until heard
        self._held_for: str | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def connect(self, url: str, headers: dict[str, str], session: Event) -> None:
        """Offer, ``POST`` it with the session as multipart, answer, wait for the channel."""
        self._url, self._headers = url, headers
        opened = asyncio.Event()
        self.pc.addTrack(self.mic)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)
        self.channel.on("open", opened.set)
        self.channel.on("message", self._on_message)
        self.channel.on("close", lambda: self._end("data channel closed"))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        files = {
            "sdp": (None, self.pc.localDescription.sdp),
            "session": (None, json.dumps(session)),
        }
        try:
            async with httpx.AsyncClient(timeout=30) as http:
                r = await http.post(url, files=files, headers=headers)
        except httpx.HTTPError as exc:
            raise UpstreamClosed(f"POST {url} failed: {exc}") from None
        if r.status_code != 201 and r.status_code != 200:
            raise UpstreamClosed(f"POST {url} answered {r.status_code}: {r.text[:300]}")
        self.call_id = (r.headers.get("location") or "").rstrip("/").rsplit("/", 1)[-1] or None
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=r.text, type="answer"))
        try:
            await asyncio.wait_for(opened.wait(), 30)
        except TimeoutError:
            raise UpstreamClosed("the call's data channel did not open within 30 s") from None

    # -- Upstream ---------------------------------------------------------------------------

    async def send(self, ev: Event) -> None:
        """One client event: audio to the track, the rest to the data channel."""
        if self._closed or self.channel.readyState != "open":
            raise UpstreamClosed("the call has ended")
        type_ = ev["type"]
        if type_ == "input_audio_buffer.append":
            self.mic.push(ev["audio"])
            return
        if type_ == "input_audio_buffer.clear":
            self.mic.flush()
        elif type_ == "input_audio_buffer.commit":
            await self._mic_sent()  # a commit covers the audio appended before it
            if self._closed or self.channel.readyState != "open":
                raise UpstreamClosed("the call has ended")
        try:
            self.channel.send(json.dumps(ev))  # no audio field: append went to the track
        except ValueError as exc:  # over the upstream's largest data-channel message
            refused = error_event(
                f"{type_} is too large for the upstream's data channel: {exc}",
                code="event_too_large",
                event_id=ev.get("event_id"),
            )
            self._inbox.put_nowait(refused)  # as if the upstream had refused it

    async def _mic_sent(self) -> None:
        """Wait until the audio queued now has left (the track paces it) and has arrived."""
        if self.mic.queued_ms:
            await asyncio.sleep(self.mic.queued_ms / 1000 + TAIL_S)

    async def recv(self) -> Event:
        """The next server event; ``UpstreamClosed`` when the call ends."""
        ev = await self._inbox.get()
        if ev is None:
            self._inbox.put_nowait(None)
            raise UpstreamClosed("the call has ended")
        return ev

    async def close(self) -> None:
        """Hang up: the call ends upstream too (``POST .../calls/{id}/hangup``)."""
        live = not self._closed
        self._end("closed")
        for task in list(self._tasks):
            task.cancel()
        self.mic.stop()
        await self.pc.close()
        if live and self.call_id:
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient(timeout=5) as http:
                    await http.post(f"{self._url}/{self.call_id}/hangup", headers=self._headers)

    # -- events in --------------------------------------------------------------------------

    def _on_message(self, message: str | bytes) -> None:
        if not isinstance(message, str):
            log.warning("upstream sent binary data on the data channel; ignored")
            return
        ev = decode(message)
        if ev is None:
            return
        type_ = ev["type"]
        if type_ in _BUFFER_EVENTS:
            self._on_buffer(type_, str(ev.get("response_id") or ""))
            return
        if type_ == "response.content_part.added" and ev.get("response_id"):
            self._parts[ev["response_id"]] = (
                ev.get("item_id", ""),
                ev.get("output_index", 0),
                ev.get("content_index", 0),
            )
        elif type_ == "response.output_audio.done" and self._held is None:
            response_id = ev.get("response_id", "")
            if response_id not in self._ended:  # some of its audio is still to come
                self._held, self._held_for = [], response_id
                if self._playing != response_id:  # not started yet (or there is none)
                    self._set_timer(NO_AUDIO_S, response_id)
        self._deliver(ev)

    def _on_buffer(self, type_: str, response_id: str) -> None:
        if type_ == "output_audio_buffer.started":
            self._cancel_timer()
            if self._held is not None and self._held_for != response_id:
                self._audio_over(self._held_for or "")  # the held reply had no audio
            self._playing = response_id
            if response_id in self._ended:  # more of it after a gap longer than TAIL_S
                self._ended.remove(response_id)
        elif type_ == "output_audio_buffer.stopped":
            self._set_timer(TAIL_S, response_id)  # what is still in flight is still the reply
        else:  # cleared: the rest will never be heard
            self._cancel_timer()
            self._audio_over(response_id)

    def _set_timer(self, delay: float, response_id: str) -> None:
        self._cancel_timer()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, self._audio_over, response_id)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _audio_over(self, response_id: str) -> None:
        """A reply's audio has all arrived (or never will): its held events follow it."""
        self._timer = None
        self._playing = None
        self._ended.append(response_id)
        self._parts.pop(response_id, None)
        held, self._held, self._held_for = self._held or [], None, None
        for ev in held:
            self._inbox.put_nowait(ev)

    def _deliver(self, ev: Event) -> None:
        if self._held is not None:
            self._held.append(ev)
        else:
            self._inbox.put_nowait(ev)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            task = asyncio.create_task(read_microphone(track, self._on_audio))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _on_audio(self, pcm: bytes) -> None:
        response_id = self._playing
        if response_id is None:
            return  # silence between replies
        item_id, output_index, content_index = self._parts.get(response_id, ("", 0, 0))
        delta = event(
            "response.output_audio.delta",
            response_id=response_id,
            item_id=item_id,
            output_index=output_index,
            content_index=content_index,
            delta=pcm,
        )
        self._inbox.put_nowait(delta)

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._end(f"connection {self.pc.connectionState}")

    def _end(self, reason: str) -> None:
        if not self._closed:
            self._closed = True
            log.info("upstream call %s ended: %s", self.call_id, reason)
            self._cancel_timer()
            self._inbox.put_nowait(None)


async def open_webrtc_upstream(settings: Settings) -> WebRTCUpstream:
    """A new Realtime call at ``{openai_base_url}/realtime/calls`` (OpenAI's unified interface)."""
    if settings.azure_openai_endpoint:
        raise ValueError("openai_transport=webrtc talks to openai_base_url; Azure is not supported")
    upstream = WebRTCUpstream()
    url = settings.openai_base_url.rstrip("/") + "/realtime/calls"
    headers = {"Authorization": f"Bearer {settings.openai_api_key}"}
    try:
        await upstream.connect(url, headers, {"type": "realtime", "model": settings.openai_model})
    except BaseException:
        with contextlib.suppress(Exception):
            await upstream.close()
        raise
    return upstream
