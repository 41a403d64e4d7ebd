"""Smart Turn v3.2 (Daily, BSD-2-Clause): an 8 MB audio model that hears whether a turn ended.

The model file ships inside the ``pipecat-ai`` wheel. voxgate reads that file and nothing else
of the package: pipecat's code is never imported, so installing it with ``--no-deps`` is enough
(its dependencies, numba and resampy among them, are not needed). The model takes the last 8 s
of the utterance at 16 kHz, left-padded with silence, as Whisper log-mel features of the
normalized waveform, and returns the probability that the speaker has finished.
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from faster_whisper.feature_extractor import FeatureExtractor

SAMPLE_RATE = 16000
WINDOW_S = 8
_DISTRIBUTION = "pipecat-ai"
_MODEL_FILE = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
_NORM_EPS = 1e-7
INSTALL_HINT = "pip install --no-deps 'pipecat-ai==1.14.0' (only its model file is used)"


def bundled_model() -> Path | None:
    """The model file of the installed ``pipecat-ai`` distribution, found without importing it."""
    try:
        distribution = importlib.metadata.distribution(_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(distribution.locate_file(_MODEL_FILE)))
    return path if path.is_file() else None


@functools.cache
def _features() -> FeatureExtractor:
    return FeatureExtractor(feature_size=80, sampling_rate=SAMPLE_RATE, chunk_length=WINDOW_S)


def input_features(pcm16: bytes) -> np.ndarray:
    """The model's ``input_features`` [1, 80, 800] for an utterance (PCM16 mono, 16 kHz).

    The last ``WINDOW_S`` seconds are kept, a shorter utterance is left-padded with silence
    (the model reads the end of the window as the end of speech), and the waveform is
    normalized to zero mean and unit variance before the spectrogram, as in training.
    """
    samples = np.frombuffer(pcm16, dtype=np.int16)[-WINDOW_S * SAMPLE_RATE :]
    audio = np.zeros(WINDOW_S * SAMPLE_RATE, dtype=np.float32)
    if samples.size:
        audio[-samples.size :] = samples.astype(np.float32) / 32768.0
    audio = (audio - audio.mean()) / np.sqrt(audio.var() + _NORM_EPS)
    log_mel = _features()(audio, padding=0)  # 801 frames less the last: [80, 800]
    return np.ascontiguousarray(log_mel[np.newaxis], dtype=np.float32)


@functools.cache
def _session(path: Path) -> Any:
    """One ONNX session per process, on one thread: a call is ~12-90 ms, short enough."""
    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class SmartTurn:
    """The end-of-turn model; ``probability`` may be called from several threads."""

    sample_rate = SAMPLE_RATE

    def __init__(self, model_path: Path | None = None) -> None:
        path = model_path or bundled_model()
        if path is None:
            raise FileNotFoundError(f"Smart Turn's model is not installed: {INSTALL_HINT}")
        self._session = _session(path)

    def probability(self, pcm16: bytes) -> float:
        """Probability that the utterance (PCM16 mono, 16 kHz) is a finished turn."""
        (output,) = self._session.run(None, {"input_features": input_features(pcm16)})
        return float(np.asarray(output).reshape(-1)[0])
