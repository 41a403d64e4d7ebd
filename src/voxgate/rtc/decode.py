"""Incoming audio decoded in the event loop, not on a thread per aiortc receiver.

aiortc's ``RTCRtpReceiver`` starts a decoder thread for every track and hands each decoded
frame back with ``run_coroutine_threadsafe`` (a coroutine, a future and a loop wake-up per
frame). Audio needs none of that: decoding 40 ms of Opus takes tens of microseconds, less than
the hop, while tens of such threads contend with the event loop for the GIL and make it miss
its deadlines. ``install()`` makes audio receivers decode inline, in the order packets leave
the jitter buffer; video keeps aiortc's thread. Opus is decoded to mono float (voxgate's audio is
mono; a stereo decode costs half as much again, then a downmix).

Nor does audio wait in a jitter buffer: aiortc's holds each audio packet until four more have
come (80 ms of a browser's 20 ms packets, 160 ms of 40 ms ones), smoothing playback at the cost
of latency. voxgate's incoming audio is listened to, not played: every turn's end would be heard
that much later. Audio packets go on as they arrive; a late or repeated one is dropped.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import threading
from typing import Any

import av
from aiortc import rtcrtpreceiver
from aiortc.codecs import get_decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_gt

log = logging.getLogger(__name__)

_thread_worker = rtcrtpreceiver.decoder_worker
_receive = rtcrtpreceiver.RTCRtpReceiver.receive

OPUS_RATE = 48000
_OPUS_TIME_BASE = fractions.Fraction(1, OPUS_RATE)


class MonoOpusDecoder:
    """Opus RTP payloads to 48 kHz mono float frames (FFmpeg's own Opus decoder, via PyAV).

    FFmpeg's decoder (float planar output only) takes about half libopus's time per packet.
    """

    def __init__(self) -> None:
        self.codec = av.CodecContext.create("opus", "r")
        self.codec.layout = "mono"
        self.codec.sample_rate = OPUS_RATE

    def decode(self, encoded_frame: JitterFrame) -> list[av.AudioFrame]:
        """The frames of one Opus packet (pts: its RTP timestamp); none for an empty one."""
        if not encoded_frame.data:
            return []  # an empty packet would put the codec in draining mode for good
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = _OPUS_TIME_BASE
        return self.codec.decode(packet)


class InlineDecoder:
    """Stands in for the receiver's decoder queue: ``put`` decodes at once into the track."""

    def __init__(self, output: asyncio.Queue[Any], decode_error: threading.Event) -> None:
        self._output = output
        self._decode_error = decode_error
        self._codec_name: str | None = None
        self._decoder: Any = None

    def put(self, task: Any) -> None:
        """``(codec, encoded frame)`` from the jitter buffer, or None: the track ends."""
        if task is None:
            self._output.put_nowait(None)
            return
        codec, encoded_frame = task
        if codec.name != self._codec_name:
            self._decoder = MonoOpusDecoder() if codec.name == "opus" else get_decoder(codec)
            self._codec_name = codec.name
        try:
            frames = self._decoder.decode(encoded_frame)
        except av.FFmpegError as exc:
            log.warning("failed to decode a %s frame: %s", codec.name, exc)
            self._decode_error.set()
            return
        for frame in frames:
            self._output.put_nowait(frame)


class ArrivalOrder:
    """Stands in for an audio receiver's jitter buffer: each packet goes on as it arrives."""

    capacity = 16

    def __init__(self) -> None:
        self._last: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """``(picture loss, frame)`` as ``JitterBuffer.add``: the packet's frame, unless late."""
        if self._last is not None and not uint16_gt(packet.sequence_number, self._last):
            return False, None  # older than one already passed on, or a repeat
        self._last = packet.sequence_number
        return False, JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]


def _decoder_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: Any,
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    if isinstance(input_q, InlineDecoder):
        return  # nothing to do on a thread: the receiver decodes inline
    _thread_worker(loop, input_q, output_q, decode_error)


async def _inline_receive(
    self: rtcrtpreceiver.RTCRtpReceiver, parameters: RTCRtpReceiveParameters
) -> None:
    # aiortc's private names (checked by tests/rtc/test_decode.py): when one is
    # missing, the receiver keeps aiortc's own thread rather than breaking.
    track = self._track
    queue = getattr(track, "_queue", None)
    error = getattr(self, "_RTCRtpReceiver__decoder_error", None)
    started = getattr(self, "_RTCRtpReceiver__started", True)
    if (
        not started
        and track is not None
        and track.kind == "audio"
        and isinstance(queue, asyncio.Queue)
        and isinstance(error, threading.Event)
        and hasattr(self, "_RTCRtpReceiver__decoder_queue")
    ):
        self._RTCRtpReceiver__decoder_queue = InlineDecoder(queue, error)
        if hasattr(self, "_RTCRtpReceiver__jitter_buffer"):
            self._RTCRtpReceiver__jitter_buffer = ArrivalOrder()
    await _receive(self, parameters)


def install() -> None:
    """Make every aiortc audio receiver in this process decode in the event loop (idempotent)."""
    rtcrtpreceiver.decoder_worker = _decoder_worker
    rtcrtpreceiver.RTCRtpReceiver.receive = _inline_receive  # type: ignore[method-assign]
