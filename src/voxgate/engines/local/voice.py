"""The local engine's voice: one phrase synthesized, trimmed to its speech, at 24 kHz."""

from __future__ import annotations

import asyncio

from voxgate.audio import SAMPLE_RATE, resample, trim_silence
from voxgate.components.tts.phrases import ends_sentence
from voxgate.engines.local.models import LocalModels

LEAD_IN_MS = 20.0
"""Quiet kept before a phrase's speech."""
FRAGMENT_PAUSE_MS = 40.0
"""Quiet kept after a phrase that stops mid-sentence, so the next one follows on."""
SENTENCE_PAUSE_MS = 250.0
"""Quiet kept at most after a sentence."""


class LocalVoice:
    """Speaks phrases with the shared TTS, in a thread, ahead of token generation."""

    def __init__(self, models: LocalModels) -> None:
        self._models = models

    async def speak(self, phrase: str, speed: float = 1.0) -> bytes:
        """The phrase's speech, PCM16 at 24 kHz; ``speed`` as the session's ``audio.output``."""
        return await asyncio.to_thread(self._synthesize, phrase, speed)

    def _synthesize(self, phrase: str, speed: float) -> bytes:
        tts = self._models.tts
        with self._models.foreground.hold():
            pcm = b"".join(tts.synthesize(phrase, speed=speed))
        # a voice pads each phrase with quiet: keep a sentence's pause, not a fragment's
        tail_ms = SENTENCE_PAUSE_MS if ends_sentence(phrase) else FRAGMENT_PAUSE_MS
        pcm = trim_silence(pcm, lead_ms=LEAD_IN_MS, tail_ms=tail_ms, sample_rate=tts.sample_rate)
        return resample(pcm, tts.sample_rate, SAMPLE_RATE)
