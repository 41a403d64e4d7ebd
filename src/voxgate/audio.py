"""PCM16 helpers. Audio inside voxgate is PCM16 LE mono 24 kHz; convert once, at the edges."""

from __future__ import annotations

import numpy as np
import soxr

SAMPLE_RATE = 24000
"""The rate of every PCM16 stream inside voxgate (the Realtime default)."""


def duration_ms(pcm16: bytes | bytearray, sample_rate: int = SAMPLE_RATE) -> float:
    """How long ``pcm16`` plays, in milliseconds."""
    return len(pcm16) / 2 / sample_rate * 1000


class Resampler:
    """Streaming PCM16 resampler (soxr) that keeps its filter state across chunks."""

    def __init__(self, in_rate: int, out_rate: int, *, quality: str = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)
        )

    def process(self, pcm16: bytes, *, last: bool = False) -> bytes:
        """Resample the next chunk; ``last`` flushes the filter's tail."""
        if self._stream is None:
            return pcm16
        samples = np.frombuffer(pcm16, dtype=np.int16)
        return bytes(self._stream.resample_chunk(samples, last=last).tobytes())


def resample(pcm16: bytes, in_rate: int, out_rate: int) -> bytes:
    """Resample one whole clip."""
    return Resampler(in_rate, out_rate).process(pcm16, last=True)


def trim_silence(
    pcm16: bytes,
    *,
    lead_ms: float,
    tail_ms: float,
    sample_rate: int = SAMPLE_RATE,
    threshold: int = 300,
) -> bytes:
    """``pcm16`` with its quiet ends cut to at most ``lead_ms`` and ``tail_ms``.

    Quiet is what is no louder than ``threshold``; audio that is all quiet is kept whole.
    """
    samples = np.frombuffer(pcm16, dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    if loud.size == 0:
        return pcm16
    start = max(int(loud[0]) - int(lead_ms * sample_rate / 1000), 0)
    end = min(int(loud[-1]) + 1 + int(tail_ms * sample_rate / 1000), samples.size)
    return samples[start:end].tobytes()
