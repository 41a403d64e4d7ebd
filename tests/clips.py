"""Recorded clips for record-and-send tests, made with PyAV as a browser or a phone would."""

from __future__ import annotations

import io

import av
import numpy as np

from voxgate.audio import SAMPLE_RATE

FORMATS = {
    # name: (container, codec, rate, layout), as recorders make them
    "wav": ("wav", "pcm_s16le", 48000, "stereo"),
    "webm": ("webm", "libopus", 48000, "mono"),  # Chrome's and Firefox's MediaRecorder
    "ogg": ("ogg", "libopus", 48000, "mono"),  # Firefox's audio/ogg
    "mp3": ("mp3", "libmp3lame", 44100, "mono"),
    "mp4": ("mp4", "aac", 44100, "mono"),  # Safari's MediaRecorder
    "flac": ("flac", "flac", 16000, "mono"),
}


def encode(pcm: bytes, name: str) -> bytes:
    """PCM16 mono 24 kHz as a file of format ``name`` (see ``FORMATS``)."""
    container_format, codec, rate, layout = FORMATS[name]
    out = io.BytesIO()
    with av.open(out, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        sample_format = stream.codec_context.format.name
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(pcm, dtype=np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(converted):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def tone(seconds: float, *, hz: float = 440.0, level: int = 8000) -> bytes:
    """A sine tone, PCM16 mono 24 kHz."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return bytes((np.sin(2 * np.pi * hz * t) * level).astype(np.int16).tobytes())
