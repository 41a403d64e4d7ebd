"""The agent's voice on WebRTC: PCM16 24 kHz encoded to Opus and released on the wall clock.

The track encodes 24 kHz mono itself (libopus via PyAV; Opus takes 24 kHz natively), so nothing
is resampled to 48 kHz stereo and no frame hops to aiortc's encoder thread.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import functools
import time
from collections.abc import Callable
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voxgate.audio import SAMPLE_RATE

FRAME_MS = 40
"""Opus frame (and RTP packet) length of the agent's voice: 40 ms halves the packets of 20 ms."""
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)

OPUS_BITRATE = 32000
"""Opus bits per second for the agent's voice (mono speech)."""
CATCH_UP_S = 1.0
"""After a shorter stall of the event loop, frames go out back to back until on time again."""

_SILENCE = bytes(FRAME_BYTES)


class _OpusEncoder:
    """PCM16 24 kHz mono, ``FRAME_MS`` at a time, to Opus packets (libopus via PyAV)."""

    def __init__(self) -> None:
        self._codec = self._open()
        self._frames = 0
        self.silence = _OpusEncoder._silence()

    @staticmethod
    def _open() -> Any:
        codec = av.CodecContext.create("libopus", "w")
        codec.sample_rate = SAMPLE_RATE
        codec.layout = "mono"
        codec.format = "s16"
        codec.bit_rate = OPUS_BITRATE
        codec.options = {"application": "voip", "frame_duration": str(FRAME_MS)}
        codec.time_base = TIME_BASE
        return codec

    @staticmethod
    @functools.cache
    def _silence() -> bytes:
        codec = _OpusEncoder._open()
        for i in range(10):  # past the encoder's start-up
            packets = codec.encode(_frame(_SILENCE, i * FRAME_SAMPLES))
        return bytes(packets[-1])

    def encode(self, pcm: bytes) -> bytes:
        packets = self._codec.encode(_frame(pcm, self._frames * FRAME_SAMPLES))
        self._frames += 1
        return b"".join(bytes(p) for p in packets[-1:]) or self.silence


def encode_opus(pcm: bytes) -> list[bytes]:
    """PCM16 24 kHz mono as the track's Opus packets (``FRAME_MS`` each, the last padded)."""
    encoder = _OpusEncoder()
    chunks = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    return [encoder.encode(c + _SILENCE[len(c) :]) for c in chunks]


def _frame(pcm: bytes, pts: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
    frame.planes[0].update(pcm)
    frame.pts = pts
    frame.sample_rate = SAMPLE_RATE
    frame.time_base = TIME_BASE
    return frame


class AgentAudioTrack(MediaStreamTrack):
    """The agent's voice: PCM16 24 kHz pushed in bursts, played out in real-time 40 ms frames.

    Between replies the track sends silence, so the RTP clock never jumps. ``flush()`` drops
    whatever is queued: the caller stops hearing the agent within one frame (barge-in).
    ``on_playing(True|False)`` reports when queued speech starts and runs out (not flushes).
    """

    kind = "audio"

    def __init__(self, on_playing: Callable[[bool], None] | None = None) -> None:
        super().__init__()
        self._buffer = bytearray()
        self._packets: collections.deque[bytes] = collections.deque()
        self._encoder = _OpusEncoder()
        self._on_playing = on_playing
        self._playing = False
        self._start: float | None = None
        self._pts = 0
        self.frames_sent = 0
        self.speech_frames_sent = 0

    @property
    def queued_ms(self) -> float:
        """Speech waiting to be played."""
        return len(self._buffer) / 2 / SAMPLE_RATE * 1000 + len(self._packets) * FRAME_MS

    def push(self, pcm: bytes) -> None:
        """Queue agent speech (PCM16 24 kHz mono)."""
        self._buffer += pcm

    def push_opus(self, packets: list[bytes]) -> None:
        """Queue speech already encoded (``encode_opus``); it plays before queued PCM.

        Many tracks playing the same audio (a load generator) encode it once.
        """
        self._packets.extend(packets)

    def flush(self) -> bool:
        """Forget queued speech now; True if speech was playing."""
        self._buffer.clear()
        self._packets.clear()
        playing, self._playing = self._playing, False
        return playing

    async def recv(self) -> av.Packet:
        """The next 40 ms of Opus, released on the wall clock (aiortc calls this in a loop).

        The track encodes itself (mono, at 24 kHz: Opus takes it natively), so aiortc only
        packetizes: no resampling to 48 kHz stereo, no hop to a thread per frame, and silence
        costs nothing (one packet, encoded once).
        """
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += FRAME_SAMPLES
            wait = self._start + self._pts / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -CATCH_UP_S:
                # A long stall: restart the clock rather than burst seconds of audio at once.
                self._start = time.monotonic() - self._pts / SAMPLE_RATE
        if self._packets:
            self.speech_frames_sent += 1
            self._set_playing(True)
            payload = self._packets.popleft()
        elif self._buffer:
            chunk = bytes(self._buffer[:FRAME_BYTES])
            del self._buffer[:FRAME_BYTES]
            if len(chunk) < FRAME_BYTES:
                chunk += _SILENCE[len(chunk) :]
            self.speech_frames_sent += 1
            self._set_playing(True)
            payload = self._encoder.encode(chunk)
        else:
            self._set_playing(False)
            payload = self._encoder.silence
        self.frames_sent += 1
        packet = av.Packet(payload)
        packet.pts = self._pts
        packet.time_base = TIME_BASE
        return packet

    def _set_playing(self, playing: bool) -> None:
        if playing != self._playing:
            self._playing = playing
            if self._on_playing is not None:
                self._on_playing(playing)
