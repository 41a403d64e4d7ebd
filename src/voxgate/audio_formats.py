"""The Realtime wire audio formats, converted once at the edge to voxgate's PCM16 24 kHz.

``audio/pcm`` is PCM16 LE mono 24 kHz and passes through untouched; ``audio/pcmu`` (G.711
μ-law) and ``audio/pcma`` (G.711 A-law) are 8 kHz telephony audio, coded with FFmpeg's codecs
through PyAV and resampled with soxr at its low-latency quality: telephone speech has nothing
above 4 kHz for a steeper filter to keep, and ``HQ`` would add ~72 ms each way (``LQ``: 12.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from voxgate.audio import SAMPLE_RATE, Resampler
from voxgate.protocol import ProtocolError

G711_RATE = 8000
_QUALITY = "LQ"
_CODECS = {"audio/pcmu": "pcm_mulaw", "audio/pcma": "pcm_alaw"}


@dataclass(frozen=True)
class AudioFormat:
    """One of the spec's ``RealtimeAudioFormats``."""

    type: str = "audio/pcm"

    @property
    def rate(self) -> int:
        """Samples per second on the wire."""
        return SAMPLE_RATE if self.type == "audio/pcm" else G711_RATE

    @property
    def is_internal(self) -> bool:
        """Whether this is already voxgate's PCM16 24 kHz."""
        return self.type == "audio/pcm"

    @classmethod
    def from_spec(cls, spec: Any, *, param: str) -> AudioFormat:
        """Parse a session's ``format`` object; refuse a format or rate voxgate cannot code."""
        if not isinstance(spec, dict):
            raise ProtocolError(f"{param} must be an object", code="invalid_value", param=param)
        type_ = spec.get("type") or "audio/pcm"
        if type_ == "audio/pcm" and spec.get("rate", SAMPLE_RATE) != SAMPLE_RATE:
            raise ProtocolError(
                f"audio/pcm is 24000 Hz only, not {spec.get('rate')!r}",
                code="unsupported_audio_format",
                param=f"{param}.rate",
            )
        if type_ != "audio/pcm" and type_ not in _CODECS:
            raise ProtocolError(
                f"unsupported audio format {type_!r}: use audio/pcm, audio/pcmu or audio/pcma",
                code="unsupported_audio_format",
                param=f"{param}.type",
            )
        return cls(type_)

    def to_spec(self) -> dict[str, Any]:
        """The spec's form, as ``session.created`` reports it."""
        return {"type": self.type, "rate": SAMPLE_RATE} if self.is_internal else {"type": self.type}


PCM = AudioFormat()


class AudioDecoder:
    """Wire audio in ``fmt`` → PCM16 24 kHz, chunk by chunk (the resampler keeps its state)."""

    def __init__(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self._codec: Any = None
        if not fmt.is_internal:
            self._codec = av.CodecContext.create(_CODECS[fmt.type], "r")
            self._codec.sample_rate = G711_RATE
            self._codec.layout = "mono"
            self._codec.open()
        self._resampler = Resampler(fmt.rate, SAMPLE_RATE, quality=_QUALITY)

    def decode(self, data: bytes) -> bytes:
        """The PCM16 24 kHz for the next chunk of wire audio."""
        if self._codec is None:
            if len(data) % 2:
                raise ProtocolError(
                    "audio/pcm audio must be whole PCM16 samples (an even number of bytes)",
                    code="invalid_audio",
                    param="audio",
                )
            return data
        if not data:
            return b""
        frames = self._codec.decode(av.Packet(data))
        pcm = b"".join(bytes(frame.to_ndarray().astype("<i2").tobytes()) for frame in frames)
        return self._resampler.process(pcm)


class AudioEncoder:
    """PCM16 24 kHz → wire audio in ``fmt``, chunk by chunk."""

    def __init__(self, fmt: AudioFormat) -> None:
        self.format = fmt
        self._codec: Any = None
        if not fmt.is_internal:
            self._codec = av.CodecContext.create(_CODECS[fmt.type], "w")
            self._codec.sample_rate = G711_RATE
            self._codec.format = "s16"
            self._codec.layout = "mono"
            self._codec.open()
        self._resampler = Resampler(SAMPLE_RATE, fmt.rate, quality=_QUALITY)

    def encode(self, pcm: bytes) -> bytes:
        """The wire audio for the next chunk of PCM16 24 kHz."""
        if self._codec is None:
            return pcm
        samples = np.frombuffer(self._resampler.process(pcm), dtype=np.int16)
        if not len(samples):
            return b""
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = G711_RATE
        return b"".join(bytes(packet) for packet in self._codec.encode(frame))
