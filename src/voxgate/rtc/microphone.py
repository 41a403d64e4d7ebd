"""The caller's WebRTC audio as PCM16 24 kHz: decoded frames resampled once, with PyAV.

The receiver's decoder (``voxgate.rtc.decode``) yields 48 kHz mono float; PyAV's resampler
(libswresample) turns it into voxgate's PCM16 24 kHz, handed on in 40 ms chunks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from voxgate.audio import SAMPLE_RATE

MIC_CHUNK_BYTES = SAMPLE_RATE * 40 // 1000 * 2
"""Mic audio reaches the session in 40 ms chunks, as the web page's WebSocket sends it."""


async def read_microphone(
    track: MediaStreamTrack,
    deliver: Callable[[bytes], Awaitable[None]],
    *,
    on_first_frame: Callable[[float], None] | None = None,
) -> int:
    """Decode the caller's track into PCM16 24 kHz chunks until it ends; returns frames read.

    ``on_first_frame(ms)`` learns how long the caller's packets are.
    """
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    pending = bytearray()
    frames = 0
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            break
        frames += 1
        if not isinstance(frame, av.AudioFrame):
            continue
        if frames == 1 and on_first_frame is not None:
            on_first_frame(frame.samples / frame.sample_rate * 1000)
        for out in resampler.resample(frame):
            pending += out.to_ndarray().tobytes()
        if len(pending) >= MIC_CHUNK_BYTES:
            chunk = bytes(pending)
            pending.clear()
            await deliver(chunk)
    if pending:
        await deliver(bytes(pending))
    return frames
