"""A WebRTC client of voxgate (aiortc): speaks PCM on a real Opus track, records what it hears.

Used by ``voxgate bench webrtc`` and the tests; also a small example of the WebRTC transport.
Connects through ``POST /api/webrtc/offer`` (voxgate's events), ``POST /v1/realtime/calls``
(OpenAI's GA interface) or ``POST /api/realtime/webrtc-offer`` (browser-direct mode: voxgate
starts the call at its upstream).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voxgate.protocol import Event
from voxgate.rtc import AgentAudioTrack

SPEECH_RMS = 200
"""A received frame louder than this (PCM16 RMS) counts as speech, not silence."""


@dataclass
class Heard:
    """What the server sent: events and audio frames, with ``time.monotonic()`` arrival times."""

    events: list[tuple[float, Event]] = field(default_factory=list)
    frames: int = 0
    speech: list[float] = field(default_factory=list)  # arrival times of loud frames
    speech_ms: float = 0.0  # how much loud audio arrived
    audio_ms: float = 0.0  # how much audio arrived
    rtp_timestamps: list[int] = field(default_factory=list)

    def types(self) -> list[str]:
        """Event types in arrival order."""
        return [ev["type"] for _, ev in self.events]


class RtcClient:
    """``async with RtcClient(base_url) as c``: a connected peer; ``speak()`` plays PCM16 24 kHz."""

    def __init__(
        self,
        base_url: str,
        *,
        mode: Literal["offer", "calls", "direct"] = "offer",
        session_id: str | None = None,
        session: dict[str, Any] | None = None,
        api_key: str | None = None,
        agent: str | None = None,
        role: str | None = None,
        record_rtp: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.mode = mode
        self.session_id = session_id
        self.session = session
        self.api_key = api_key
        self.agent = agent
        self.role = role
        self.participant_id: str | None = None
        """Its id in the session (``POST /api/webrtc/offer``'s answer)."""
        self.record_rtp = record_rtp
        self.heard = Heard()
        # the same paced PCM → Opus track the server uses
        self.mic = AgentAudioTrack(on_playing=self._on_mic_playing)
        self.spoke: list[float] = []  # when queued speech began to leave (its first frame)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel = self.pc.createDataChannel("oai-events")
        self.location: str | None = None
        self.timings: dict[str, float] = {}
        self._changed = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self._open = asyncio.Event()
        self._notifying: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> RtcClient:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Offer, answer, and wait until the data channel is open."""
        started = time.monotonic()
        self.pc.addTrack(self.mic)
        self.pc.on(
            "track", lambda track: self._tasks.append(asyncio.create_task(self._read(track)))
        )
        self.channel.on("open", self._open.set)
        self.channel.on("message", self._on_message)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.timings["offer"] = time.monotonic() - started
        offer = self.pc.localDescription.sdp
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            if self.mode == "offer":
                body: dict[str, Any] = {"sdp": offer, "type": "offer"}
                if self.session_id:
                    body["session_id"] = self.session_id
                if self.agent:
                    body["agent"] = self.agent
                if self.role:
                    body["role"] = self.role
                r = await http.post("/api/webrtc/offer", json=body, headers=headers)
                r.raise_for_status()
                answer = r.json()["sdp"]
                self.session_id = r.json()["session_id"]
                self.participant_id = r.json()["participant_id"]
            elif self.mode == "direct":
                body = {"sdp": offer, "type": "offer"}
                r = await http.post("/api/realtime/webrtc-offer", json=body, headers=headers)
                r.raise_for_status()
                answer = r.json()["sdp"]
                self.session_id = r.json()["call_id"]
            else:
                if self.session is None:
                    r = await http.post(
                        "/v1/realtime/calls",
                        content=offer,
                        headers={**headers, "Content-Type": "application/sdp"},
                    )
                else:
                    r = await http.post(
                        "/v1/realtime/calls",
                        files={"sdp": (None, offer), "session": (None, json.dumps(self.session))},
                        headers=headers,
                    )
                r.raise_for_status()
                answer = r.text
                self.location = r.headers.get("location")
                self.session_id = (self.location or "").rsplit("/", 1)[-1] or None
        self.timings["answered"] = time.monotonic() - started
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(self._open.wait(), 30)
        self.timings["open"] = time.monotonic() - started

    def speak(self, pcm: bytes) -> None:
        """Queue PCM16 24 kHz; it leaves in real time, then silence follows."""
        self.mic.push(pcm)

    def _on_mic_playing(self, playing: bool) -> None:
        if playing:
            self.spoke.append(time.monotonic())

    def speak_opus(self, packets: list[bytes]) -> None:
        """Queue speech already encoded with ``voxgate.rtc.encode_opus`` (40 ms packets)."""
        self.mic.push_opus(packets)

    @property
    def speaking(self) -> bool:
        """Whether queued speech is still being sent."""
        return self.mic.queued_ms > 0

    def send(self, data: dict[str, Any]) -> None:
        """One JSON event on the data channel."""
        self.channel.send(json.dumps(data))

    async def wait_for(
        self, type_: str | Callable[[Event], bool], *, after: int = 0, timeout: float = 60
    ) -> tuple[int, Event]:
        """The first event of ``type_`` (or matching it) at index ``after`` or later."""
        match = (lambda ev: ev["type"] == type_) if isinstance(type_, str) else type_

        def find() -> tuple[int, Event] | None:
            for i in range(after, len(self.heard.events)):
                if match(self.heard.events[i][1]):
                    return i, self.heard.events[i][1]
            return None

        async with asyncio.timeout(timeout), self._changed:
            while (found := find()) is None:
                await self._changed.wait()
            return found

    async def close(self) -> None:
        """Hang up."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, MediaStreamError):
                await task
        self.mic.stop()
        await self.pc.close()

    def _on_message(self, message: str | bytes) -> None:
        if isinstance(message, str):
            self.heard.events.append((time.monotonic(), json.loads(message)))
            task = asyncio.create_task(self._notify())
            self._notifying.add(task)
            task.add_done_callback(self._notifying.discard)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            self.heard.frames += 1
            duration_ms = frame.samples / frame.sample_rate * 1000
            self.heard.audio_ms += duration_ms
            if self.record_rtp and frame.pts is not None:
                self.heard.rtp_timestamps.append(int(frame.pts))
            samples = frame.to_ndarray().astype(np.float32)
            if frame.format.name.startswith("flt"):  # float audio: [-1, 1]
                samples *= 32768
            if float(np.sqrt(np.mean(samples * samples))) > SPEECH_RMS:
                self.heard.speech.append(time.monotonic())
                self.heard.speech_ms += duration_ms
